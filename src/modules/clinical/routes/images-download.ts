import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { errorResponses, idParams, problem } from '../../../platform/http/schemas.ts';
import { securedRoute, type SecuredDeps } from '../../access/secured-route.ts';
import { recordDetached } from '../../audit/record.ts';
import { Outcome, type AuditOutcome } from '../../audit/vocabulary.ts';
import { caseResource, loadCase } from '../cases-service.ts';
import { imageContentTypeList, isImageContentType } from '../image-formats.ts';
import { ImageDownload, type DownloadEnd, type DownloadFailure } from '../image-download.ts';
import type { ImageRow } from '../images-repo.ts';
import { loadImage, openContent, type ImageDeps } from '../images-service.ts';

const binary = { type: 'string', format: 'binary' } as const;

/** Longest the shutdown waits for downloads to learn that their connection closed. */
const shutdownWaitMs = 5_000;

/** The type a download is served as when its stored type is not an allowed image type. */
const fallbackContentType = 'application/octet-stream';

/**
 * `GET /images/{id}/content`: the decrypted file, streamed once its `image.download` event has
 * committed, then followed by an event saying how the download ended
 * (`image.download_completed`, or `image.download_incomplete` with why), each with the bytes
 * sent, so the trail tells a whole file from one cut short.
 *
 * It has a scope of its own for two hooks: `onSend` tells each download whether its response
 * carries the file (the request committed) or an error, and `onClose` makes the shutdown wait
 * for the events recording how downloads ended.
 */
export function registerImageDownload(app: FastifyInstance, s: SecuredDeps, deps: ImageDeps): void {
  void app.register((sub, _opts, done) => {
    const downloads = new WeakMap<FastifyRequest, ImageDownload>();
    /** Downloads not over yet, and the writes of the events recording how downloads ended. */
    const running = new Set<Promise<void>>();
    const endings = new Set<Promise<void>>();
    sub.addHook('onSend', (req, _reply, payload, next) => {
      downloads.get(req)?.handedOver(payload);
      next(null, payload);
    });
    sub.addHook('onClose', async () => {
      // The server has closed, but a connection it counted as closed may not have emitted its
      // 'close' yet (Node counts it at destroy, emits later), so a download it carried may not
      // know it is over: wait for those (bounded), then for the events they record.
      await Promise.race([
        Promise.allSettled([...running]),
        sleep(shutdownWaitMs, undefined, { ref: false }),
      ]);
      await Promise.allSettled([...endings]);
    });

    /** Records how a download ended, in its own transaction (its download event committed). */
    const recordEnd = (req: FastifyRequest, image: ImageRow, end: DownloadEnd): void => {
      const ctx = req.wardContext;
      if (!ctx) return;
      const ua = req.headers['user-agent'];
      const write = recordDetached(s.db, ctx, {
        action: 'R',
        ...(end.complete
          ? { eventType: 'image.download_completed', outcome: Outcome.success }
          : {
              eventType: 'image.download_incomplete',
              outcome: downloadFailureOutcome[end.reason],
              outcomeReason: end.reason,
            }),
        entityType: 'MedicalImage',
        entityId: image.id,
        patientId: image.patient_id,
        // No fields: the disclosure is the download event this one follows.
        ip: req.ip,
        ...(typeof ua === 'string' ? { userAgent: ua } : {}),
        metadata: { sizeBytes: image.size_bytes ?? 0, bytesSent: end.bytesSent },
      }).then(
        () => undefined,
        (e: unknown) => {
          req.log.error({ err: e }, 'could not record the end of an image download');
        },
      );
      endings.add(write);
      void write.finally(() => endings.delete(write));
    };

    securedRoute<unknown, { id: string }>(sub, s, {
      method: 'GET',
      url: '/images/:id/content',
      permission: 'image:read',
      phi: true,
      schema: {
        operationId: 'downloadImageContent',
        tags: ['clinical'],
        params: idParams,
        description:
          'The decrypted file, streamed, as an attachment (no ranges, no conditional requests). Repr-Digest carries its SHA-256. A stored object that fails authentication is a 500 decrypt_failed, or, once bytes were sent, an aborted response (the connection closes short of Content-Length) — never unauthenticated bytes and never a completed body that is not the whole file.',
        response: {
          200: {
            description: 'The image file',
            content: Object.fromEntries(
              [...imageContentTypeList, fallbackContentType].map((t) => [t, { schema: binary }]),
            ),
          },
          ...errorResponses,
          500: problem,
        },
      },
      handler: async ({ req, tx, principal, params, authorize, audit, reply }) => {
        const image = await loadImage(tx, principal.orgId, params.id);
        const c = await loadCase(tx, principal.orgId, image.case_id);
        authorize({ permission: 'image:read', resource: caseResource(c) });
        const content = await openContent(tx, deps, image);
        // From here the download owns the content and closes it however the request ends.
        const download = new ImageDownload(content, reply.raw, {
          idleMs: deps.downloadIdleMs ?? 60_000,
          onEnd: (end) => {
            recordEnd(req, image, end);
          },
        });
        downloads.set(req, download);
        running.add(download.over);
        void download.over.then(() => running.delete(download.over));
        await audit({
          action: 'R',
          eventType: 'image.download',
          entityType: 'MedicalImage',
          entityId: image.id,
          patientId: image.patient_id,
          phiFields: ['content'],
          metadata: { sizeBytes: image.size_bytes ?? 0 },
        });
        void reply
          .type(servedContentType(image.content_type))
          .header('content-length', String(image.size_bytes))
          .header('repr-digest', `sha-256=:${image.sha256?.toString('base64') ?? ''}:`)
          .header('content-disposition', 'attachment')
          // The whole file or nothing: a range would be a part no digest covers.
          .header('accept-ranges', 'none')
          // Should a browser ever render it, it runs nothing and loads nothing.
          .header('content-security-policy', "default-src 'none'; sandbox");
        return download.body;
      },
    });
    done();
  });
}

/**
 * The Content-Type a download is served with: the stored type only when it is one of the
 * allowed image types. The row's type is checked on the way in, but a download must not
 * depend on that: a row whose type was changed to one a browser renders (text/html) would
 * otherwise serve the file as a page.
 */
function servedContentType(stored: string): string {
  return isImageContentType(stored) ? stored : fallbackContentType;
}

/**
 * The FHIR AuditEvent outcome of an incomplete download: minor failure (4) when the client
 * ended it, like the 4xx it would have been; serious failure (8) when Ward could not deliver
 * what it stored, like the 500 it is before the first byte. Never major (12), which FHIR keeps
 * for a system that is no longer available.
 */
const downloadFailureOutcome: Record<DownloadFailure, AuditOutcome> = {
  connection_closed: Outcome.minorFailure,
  stalled: Outcome.minorFailure,
  object_read_failed: Outcome.seriousFailure,
  decrypt_failed: Outcome.seriousFailure,
};
