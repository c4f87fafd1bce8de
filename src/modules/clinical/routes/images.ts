import type { FastifyInstance, FastifyRequest } from 'fastify';
import { isWardError, WardError } from '../../../platform/errors.ts';
import {
  decodeCursor,
  pageLimit,
  pageQueryProperties,
  pageSchema,
  toPage,
  type PageQuery,
} from '../../../platform/http/pagination.ts';
import {
  dateTime,
  errorResponses,
  idParams,
  nullableDateTime,
  nullableString,
  object,
  problem,
  uuid,
} from '../../../platform/http/schemas.ts';
import { securedRoute, type SecuredDeps } from '../../access/secured-route.ts';
import { caseResource, loadCase } from '../cases-service.ts';
import {
  dicomBodyPartPattern,
  dicomModalityPattern,
  dicomUidPattern,
  imageContentTypeList,
  imageContentTypes,
} from '../image-formats.ts';
import * as repo from '../images-repo.ts';
import { registerImageDownload } from './images-download.ts';
import {
  checkUpload,
  commitContent,
  createImage,
  discardContent,
  imageMetadataFields,
  imageView,
  loadImage,
  receiveContent,
  type ImageCreate,
  type ImageDeps,
  type ReceivedContent,
} from '../images-service.ts';

const tags = ['clinical'];
const dicomUid = { type: 'string', pattern: dicomUidPattern, maxLength: 64 } as const;
const nullableSize = { type: ['number', 'null'] } as const;

const imageSchema = object({
  id: uuid,
  caseId: uuid,
  patientId: uuid,
  modality: { type: 'string' },
  bodyPart: nullableString,
  studyUid: nullableString,
  seriesUid: nullableString,
  instanceUid: nullableString,
  contentType: { type: 'string' },
  contentStored: { type: 'boolean' },
  sizeBytes: nullableSize,
  sha256: nullableString,
  uploadedBy: nullableString,
  contentStoredAt: nullableDateTime,
  createdAt: dateTime,
});

/**
 * Medical images: metadata first (`POST /cases/{id}/images`), then the file, once
 * (`PUT /images/{id}/content`, raw bytes in the declared content type), so no PHI travels in
 * headers or query strings. Files are encrypted while they stream in and decrypted (and
 * authenticated) while they stream out (`images-download.ts`); see docs/security.md.
 */
export function registerImageRoutes(app: FastifyInstance, s: SecuredDeps, deps: ImageDeps) {
  securedRoute<ImageCreate, { id: string }, unknown, ReturnType<typeof imageView>>(app, s, {
    method: 'POST',
    url: '/cases/:id/images',
    permission: 'image:create',
    phi: true,
    status: 201,
    schema: {
      operationId: 'createImage',
      tags,
      params: idParams,
      body: object(
        {
          modality: { type: 'string', pattern: dicomModalityPattern },
          contentType: { type: 'string', enum: imageContentTypeList },
          bodyPart: { type: 'string', pattern: dicomBodyPartPattern },
          studyUid: dicomUid,
          seriesUid: dicomUid,
          instanceUid: dicomUid,
        },
        ['modality', 'contentType'],
      ),
      response: { 201: imageSchema, ...errorResponses },
    },
    idempotent: {
      idOf: (r) => r.id,
      replay: async ({ tx, principal, audit, authorize }, id) => {
        const image = await loadImage(tx, principal.orgId, id);
        // The replay discloses the image as it is now: decide on the case as it is now too
        // (care team), exactly as the create itself would, or a caller taken off the team
        // could read it back through its old key.
        const c = await loadCase(tx, principal.orgId, image.case_id);
        authorize({ permission: 'image:create', resource: caseResource(c) });
        await audit({
          action: 'R',
          eventType: 'image.create_replayed',
          entityType: 'MedicalImage',
          entityId: image.id,
          patientId: image.patient_id,
          phiFields: [...imageMetadataFields],
        });
        return imageView(image);
      },
    },
    handler: async ({ tx, principal, params, body, authorize, audit }) => {
      // Locked: the case cannot be closed, nor its care team changed, between the check and
      // the insert.
      const c = await loadCase(tx, principal.orgId, params.id, { forWrite: true });
      authorize({ permission: 'image:create', resource: caseResource(c) });
      const image = await createImage(tx, c, body);
      await audit({
        action: 'C',
        eventType: 'image.create',
        entityType: 'MedicalImage',
        entityId: image.id,
        patientId: image.patient_id,
        phiFields: [...imageMetadataFields],
        metadata: { caseId: c.id, modality: image.modality },
      });
      return imageView(image);
    },
  });

  // Raw image bytes reach this route as a stream (no parsing, no buffering); only the
  // allow-listed types are accepted, anything else is a 415 before the handler runs.
  void app.register((sub, _opts, done) => {
    sub.addContentTypeParser(imageContentTypeList, (_req, payload, next) => {
      next(null, payload);
    });
    securedRoute<AsyncIterable<Buffer>, { id: string }>(sub, s, {
      method: 'PUT',
      url: '/images/:id/content',
      permission: 'image:create',
      phi: true,
      schema: {
        operationId: 'uploadImageContent',
        tags,
        params: idParams,
        description: `The file, once, as the content type its metadata declares (${Object.keys(imageContentTypes).join(', ')}); at most the configured size (413 beyond it); 408 when no byte arrives for the idle limit.`,
        body: {
          content: Object.fromEntries(
            // Documentation only: a schema with no constraints, as the body is a stream.
            imageContentTypeList.map((t) => [t, { schema: { description: 'The file bytes' } }]),
          ),
        },
        response: { 200: imageSchema, ...errorResponses, 408: problem, 413: problem, 415: problem },
      },
      stage: async ({ req, reply, tx, principal, params, authorize }) => {
        const image = await loadImage(tx, principal.orgId, params.id);
        const c = await loadCase(tx, principal.orgId, image.case_id);
        authorize({ permission: 'image:create', resource: caseResource(c) });
        if (c.status === 'closed') {
          discardRest(req, deps.maxBytes);
          throw new WardError('conflict', 'The case is closed');
        }
        try {
          checkUpload(
            image,
            req.headers['content-type'],
            req.headers['content-length'],
            deps.maxBytes,
          );
        } catch (e) {
          discardRest(req, deps.maxBytes);
          throw e;
        }
        let received: ReceivedContent | undefined;
        return {
          receive: async () => {
            try {
              received = await receiveContent(deps, image, req.body as AsyncIterable<Buffer>);
            } catch (e) {
              // A client that stopped sending would not read an answer either: close instead.
              if (isWardError(e, 'request_timeout')) void reply.header('connection', 'close');
              else discardRest(req, deps.maxBytes);
              throw e;
            }
            return received;
          },
          discard: async () => {
            if (received) await discardContent(deps, received);
          },
        };
      },
      handler: async ({ tx, principal, params, staged, audit, authorize }) => {
        const received = staged as ReceivedContent;
        const image = await loadImage(tx, principal.orgId, params.id, true);
        // The upload took time: decide again on the case as it is now (care team, closed),
        // locked so that a close cannot commit between this check and the content's.
        const c = await loadCase(tx, principal.orgId, image.case_id, { forWrite: true });
        authorize({ permission: 'image:create', resource: caseResource(c) });
        if (c.status === 'closed') throw new WardError('conflict', 'The case is closed');
        const stored = await commitContent(tx, deps, image, received, principal.userId);
        await audit({
          action: 'U',
          eventType: 'image.upload',
          entityType: 'MedicalImage',
          entityId: stored.id,
          patientId: stored.patient_id,
          phiFields: ['content'],
          metadata: { sizeBytes: received.info.size },
        });
        return imageView(stored);
      },
    });
    done();
  });

  securedRoute<unknown, { id: string }>(app, s, {
    method: 'GET',
    url: '/images/:id',
    permission: 'image:read',
    phi: true,
    schema: {
      operationId: 'getImage',
      tags,
      params: idParams,
      response: { 200: imageSchema, ...errorResponses },
    },
    handler: async ({ tx, principal, params, authorize, audit }) => {
      const image = await loadImage(tx, principal.orgId, params.id);
      const c = await loadCase(tx, principal.orgId, image.case_id);
      authorize({ permission: 'image:read', resource: caseResource(c) });
      await audit({
        action: 'R',
        eventType: 'image.read',
        entityType: 'MedicalImage',
        entityId: image.id,
        patientId: image.patient_id,
        phiFields: [...imageMetadataFields],
      });
      return imageView(image);
    },
  });

  registerImageDownload(app, s, deps);

  securedRoute<unknown, { id: string }, PageQuery>(app, s, {
    method: 'GET',
    url: '/cases/:id/images',
    permission: 'image:read',
    phi: true,
    schema: {
      operationId: 'listCaseImages',
      tags,
      params: idParams,
      querystring: object({ ...pageQueryProperties }, []),
      response: { 200: pageSchema(imageSchema), ...errorResponses },
    },
    handler: async ({ tx, principal, params, query, authorize, audit }) => {
      const c = await loadCase(tx, principal.orgId, params.id);
      authorize({ permission: 'image:read', resource: caseResource(c) });
      const limit = pageLimit(query);
      const after = decodeCursor(`case-images:${c.id}`, query.cursor, 2);
      const rows = await repo.listCaseImages(
        tx,
        principal.orgId,
        c.id,
        after ? { createdAt: after[0] ?? '', id: after[1] ?? '' } : undefined,
        limit + 1,
      );
      const page = toPage(rows, limit, `case-images:${c.id}`, (r) => [r.sort_at, r.id], imageView);
      await audit({
        action: 'R',
        eventType: 'image.list',
        entityType: 'MedicalCase',
        entityId: c.id,
        patientId: c.patient_id,
        phiFields: page.items.length > 0 ? [...imageMetadataFields] : [],
        metadata: { count: page.items.length },
      });
      return page;
    },
  });
}

/**
 * After refusing an upload, reads and drops the rest of the body so the client can finish
 * sending and read the answer (a client still writing to a closed socket sees a reset, not
 * the 413). Bounded: past `max(limit, 8 MiB)` more bytes the connection is dropped instead.
 */
function discardRest(req: FastifyRequest, limit: number): void {
  const raw = req.raw;
  if (raw.readableEnded || raw.destroyed) return;
  const budget = Math.max(limit, 8 * 1024 * 1024);
  let seen = 0;
  raw.on('data', (c: Buffer) => {
    seen += c.length;
    if (seen > budget) raw.destroy();
  });
  raw.resume();
}
