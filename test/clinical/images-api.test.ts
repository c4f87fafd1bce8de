import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import {
  existsSync,
  readFileSync,
  readdirSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, mock, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { keyStatus, retireKey, rotateDataKeys } from '../../src/modules/crypto/key-admin.ts';
import { sealedObjectSize } from '../../src/modules/crypto/object-cipher.ts';
import { rewrapValues } from '../../src/modules/crypto/rewrap.ts';
import { isWardError } from '../../src/platform/errors.ts';
import {
  auth,
  countEvents,
  createTestApi,
  enrollTotp,
  seedOrg,
  tokenFor,
  type TestApi,
} from '../helpers/api.ts';
import { availableEngines } from '../helpers/db.ts';

const pngSignature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
// A recognizable plaintext marker, repeated through the file, that must never be on disk.
const marker = Buffer.from('SYNTHETIC-PATIENT-IMAGE-PLAINTEXT-');

/** A fake PNG of `size` bytes: the signature, then the marker repeated, then random bytes. */
function png(size: number): Buffer {
  const b = Buffer.alloc(size);
  pngSignature.copy(b, 0);
  for (let i = 8; i + marker.length < size / 2; i += marker.length) marker.copy(b, i);
  randomBytes(Math.floor(size / 2)).copy(b, size - Math.floor(size / 2));
  return b;
}

/** Every file under `dir` (the object store), staging included. */
function files(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.push(p);
    }
  };
  walk(dir);
  return out;
}

const maxBytes = 300_000;

/** An audit event row as the download tests read it. */
interface DownloadEventRow {
  event_type: string;
  outcome: string;
  outcome_reason: string | null;
  phi_fields: string[];
  request_id: string | null;
  metadata: Record<string, unknown>;
}

for (const engine of availableEngines()) {
  describe(`medical images API (${engine})`, () => {
    let api: TestApi;
    let doctor: string;
    let nurse: string;
    let other: string;
    let admin: string;
    let patientId: string;
    let orgId: string;
    let caseId: string;
    let closedCaseId: string;

    const call = (
      method: 'GET' | 'POST' | 'PUT',
      url: string,
      opts: { payload?: unknown; token?: string; headers?: Record<string, string> } = {},
    ) =>
      api.app.inject({
        method,
        url: `/api/v1${url}`,
        headers: { ...auth(opts.token ?? doctor, 'TREAT'), ...opts.headers },
        ...(opts.payload !== undefined
          ? { payload: opts.payload as Buffer | Record<string, unknown> }
          : {}),
      });
    const upload = (id: string, body: Buffer | Readable, type = 'image/png', token?: string) =>
      call('PUT', `/images/${id}/content`, {
        payload: body,
        headers: { 'content-type': type },
        ...(token ? { token } : {}),
      });
    const newImage = async (contentType = 'image/png', onCase = caseId) => {
      const r = await call('POST', `/cases/${onCase}/images`, {
        payload: { modality: 'CT', contentType, bodyPart: 'CHEST', studyUid: '1.2.840.1' },
      });
      assert.equal(r.statusCode, 201, r.body);
      return r.json<{ id: string; contentStored: boolean }>();
    };
    const storedFile = async (id: string) => {
      const r = await api.t.db.asAdmin((tx) =>
        tx.query<{ k: string }>(
          'select storage_key as k from clinical.medical_images where id = $1',
          [id],
        ),
      );
      return path.join(api.rt.config.objectDir, r.rows[0]!.k);
    };
    /**
     * The events of `type` about `entityId`, oldest first, once there are `n`: how a download
     * ended is recorded in its own transaction after its response, so it is waited for.
     */
    const eventsAbout = async (entityId: string, type: string, n = 1) => {
      for (let i = 0; ; i += 1) {
        const r = await api.t.db.asAdmin((tx) =>
          tx.query<DownloadEventRow>(
            `select event_type, outcome, outcome_reason, phi_fields, request_id, metadata
               from audit.events where entity_id = $1 and event_type = $2 order by id`,
            [entityId, type],
          ),
        );
        if (r.rows.length >= n || i === 200) return r.rows;
        await sleep(10);
      }
    };
    const imageRows = async () =>
      (
        await api.t.db.asAdmin((tx) =>
          tx.query<{ n: number; stored: number }>(
            'select count(*)::int as n, count(storage_key)::int as stored from clinical.medical_images',
          ),
        )
      ).rows[0]!;

    before(async () => {
      api = await createTestApi(() => [], engine, { WARD_IMAGE_MAX_BYTES: String(maxBytes) });
      const org = await seedOrg(api, 'Img', ['doctor', 'nurse', 'admin']);
      orgId = org.orgId;
      doctor = await tokenFor(api, org.users['doctor']!.email);
      nurse = await tokenFor(api, org.users['nurse']!.email);
      admin = await tokenFor(api, org.users['admin']!.email);
      await enrollTotp(api, admin);
      const rival = await seedOrg(api, 'Rival', ['doctor']);
      other = await tokenFor(api, rival.users['doctor']!.email);
      const p = await call('POST', '/patients', {
        payload: {
          mrn: 'MRN-IMG1',
          firstName: 'Ima',
          lastName: 'Synthetic',
          dateOfBirth: '1970-01-01',
        },
      });
      patientId = p.json<{ id: string }>().id;
      const c = await call('POST', '/cases', {
        payload: { patientId, chiefComplaint: 'Cough for three weeks' },
      });
      caseId = c.json<{ id: string }>().id;
      const closed = await call('POST', '/cases', {
        payload: { patientId, chiefComplaint: 'Old complaint' },
      });
      closedCaseId = closed.json<{ id: string }>().id;
      api.rt.crypto.onSecurityEvent((e) => {
        failures.push({ type: e.type, ...('rowId' in e ? { rowId: e.rowId } : {}) });
      });
      await call('POST', `/cases/${closedCaseId}/transition`, { payload: { status: 'closed' } });
    });
    after(async () => api.close());
    const failures: { type: string; rowId?: string }[] = [];

    test('metadata, streamed upload, metadata read and streamed download round-trip', async () => {
      const img = await newImage();
      assert.equal(img.contentStored, false);
      const data = png(200_000); // four 64 KiB chunks
      const up = await upload(img.id, data);
      assert.equal(up.statusCode, 200, up.body);
      const view = up.json<{ sizeBytes: number; sha256: string; contentStored: boolean }>();
      assert.equal(view.sizeBytes, data.length);
      assert.equal(view.sha256, createHash('sha256').update(data).digest('hex'));
      assert.equal(view.contentStored, true);
      const meta = await call('GET', `/images/${img.id}`, { token: nurse });
      assert.equal(meta.statusCode, 200, meta.body);
      assert.equal(meta.json<{ sizeBytes: number }>().sizeBytes, data.length);
      const down = await call('GET', `/images/${img.id}/content`);
      assert.equal(down.statusCode, 200, down.body.slice(0, 200));
      assert.equal(down.headers['content-type'], 'image/png');
      assert.equal(down.headers['content-length'], String(data.length));
      assert.equal(
        down.headers['repr-digest'],
        `sha-256=:${createHash('sha256').update(data).digest('base64')}:`,
      );
      assert.ok(down.rawPayload.equals(data), 'the download is the uploaded file');
      // One audit event per PHI request, each naming the patient.
      assert.equal(await countEvents(api, 'image.create'), 1 + 0);
      assert.equal(await countEvents(api, 'image.upload'), 1);
      assert.equal(await countEvents(api, 'image.read'), 1);
      assert.equal(await countEvents(api, 'image.download'), 1);
      // And the download's end: the whole file went out.
      const [completed] = await eventsAbout(img.id, 'image.download_completed');
      assert.equal(completed?.outcome, '0');
      assert.equal(completed.request_id, down.headers['x-request-id']);
      assert.deepEqual(completed.metadata, { sizeBytes: data.length, bytesSent: data.length });
      assert.deepEqual(completed.phi_fields, [], 'the disclosure is the download event itself');
      assert.equal(await countEvents(api, 'image.download_incomplete'), 0);
      const list = await call('GET', `/cases/${caseId}/images?limit=1`);
      assert.equal(list.statusCode, 200, list.body);
      assert.equal(list.json<{ items: unknown[] }>().items.length, 1);
    });

    test('the stored object holds no plaintext, only the sealed chunks', async () => {
      const img = await newImage();
      const data = png(150_000);
      assert.equal((await upload(img.id, data)).statusCode, 200);
      const file = await storedFile(img.id);
      const stored = readFileSync(file);
      assert.equal(stored.length, sealedObjectSize(data.length));
      assert.equal(stored.indexOf(marker), -1, 'the plaintext marker is not on disk');
      assert.equal(stored.indexOf(data.subarray(data.length - 64)), -1);
      assert.equal(statSync(file).mode & 0o077, 0, 'object files are private to the owner');
      const raw = await api.t.db.asAdmin((tx) =>
        tx.query<{ k: Buffer }>(
          'select content_key_encrypted as k from clinical.medical_images where id = $1',
          [img.id],
        ),
      );
      assert.equal(raw.rows[0]!.k[0], 0x01, 'the content key is a sealed field value');
    });

    test('a second upload, a wrong content type or signature and a closed case are refused', async () => {
      const img = await newImage();
      assert.equal((await upload(img.id, png(1000))).statusCode, 200);
      const before = files(api.rt.config.objectDir).length;
      const again = await upload(img.id, png(1000));
      assert.equal(again.statusCode, 409, again.body);
      const fresh = await newImage();
      const wrongType = await upload(fresh.id, png(1000), 'image/jpeg');
      assert.equal(wrongType.statusCode, 415, wrongType.body);
      const notPng = await upload(fresh.id, Buffer.from('#!/bin/sh\necho not an image\n'));
      assert.equal(notPng.statusCode, 415, notPng.body);
      assert.equal(notPng.json<{ code: string }>().code, 'unsupported_media_type');
      const json = await call('PUT', `/images/${fresh.id}/content`, { payload: { a: 1 } });
      assert.equal(json.statusCode, 415, json.body);
      assert.equal(files(api.rt.config.objectDir).length, before, 'no object was left behind');
      const meta = await call('GET', `/images/${fresh.id}`);
      assert.equal(meta.json<{ contentStored: boolean }>().contentStored, false);
      const none = await call('GET', `/images/${fresh.id}/content`);
      assert.equal(none.statusCode, 404);
      const bad = await call('POST', `/cases/${caseId}/images`, {
        payload: { modality: 'ct', contentType: 'image/png' },
      });
      assert.equal(bad.statusCode, 400);
      const gif = await call('POST', `/cases/${caseId}/images`, {
        payload: { modality: 'CT', contentType: 'image/gif' },
      });
      assert.equal(gif.statusCode, 400);
      const closed = await call('POST', `/cases/${closedCaseId}/images`, {
        payload: { modality: 'CT', contentType: 'image/png' },
      });
      assert.equal(closed.statusCode, 409);
    });

    test('an upload to a case closed after its metadata was created is refused, leaving nothing', async () => {
      const p = await call('POST', '/cases', {
        payload: {
          patientId: (await call('GET', `/cases/${caseId}`)).json<{ patientId: string }>()
            .patientId,
          chiefComplaint: 'Closing soon',
        },
      });
      const closingCase = p.json<{ id: string }>().id;
      const img = await call('POST', `/cases/${closingCase}/images`, {
        payload: { modality: 'CT', contentType: 'image/png' },
      });
      assert.equal(img.statusCode, 201, img.body);
      await call('POST', `/cases/${closingCase}/transition`, { payload: { status: 'closed' } });
      const before = files(api.rt.config.objectDir).length;
      const r = await upload(img.json<{ id: string }>().id, png(1000));
      assert.equal(r.statusCode, 409, r.body);
      assert.equal(files(api.rt.config.objectDir).length, before);
    });

    // Two connections are needed to interleave: only the server engine can show this race.
    test(
      'an upload or create whose case is being closed waits for the close and is then refused',
      { skip: engine !== 'postgres' },
      async () => {
        /** Runs `request` while another transaction has closed `id` but not committed yet. */
        const whileClosing = async (id: string, request: () => Promise<{ statusCode: number }>) => {
          let commitClose!: () => void;
          const release = new Promise<void>((r) => (commitClose = r));
          let locked!: () => void;
          const isLocked = new Promise<void>((r) => (locked = r));
          const close = api.t.db.asAdmin(async (tx) => {
            await tx.query(
              `update clinical.medical_cases set status = 'closed', closed_at = now() where id = $1`,
              [id],
            );
            locked();
            await release;
          });
          await isLocked;
          const pending = request();
          const early = await Promise.race([
            pending.then(() => 'answered'),
            new Promise((r) => setTimeout(() => r('waiting'), 500)),
          ]);
          commitClose();
          await close;
          return { early, r: await pending };
        };
        const newCase = async () =>
          (
            await call('POST', '/cases', {
              payload: { patientId, chiefComplaint: 'Closing while uploading' },
            })
          ).json<{ id: string }>().id;

        const uploading = await newCase();
        const img = await newImage('image/png', uploading);
        const up = await whileClosing(uploading, () => upload(img.id, png(1000)));
        assert.equal(up.early, 'waiting', 'the upload waits for the concurrent close');
        assert.equal(up.r.statusCode, 409);
        const meta = await call('GET', `/images/${img.id}`);
        assert.equal(meta.json<{ contentStored: boolean }>().contentStored, false);

        const creating = await newCase();
        const create = await whileClosing(creating, () =>
          call('POST', `/cases/${creating}/images`, {
            payload: { modality: 'CT', contentType: 'image/png' },
          }),
        );
        assert.equal(create.early, 'waiting', 'the create waits for the concurrent close');
        assert.equal(create.r.statusCode, 409);
      },
    );

    test('oversize uploads are a 413 (declared or streamed) and leave no row content or file', async () => {
      const img = await newImage();
      const before = { rows: await imageRows(), files: files(api.rt.config.objectDir).length };
      const declared = await upload(img.id, png(maxBytes + 1));
      assert.equal(declared.statusCode, 413, declared.body);
      // A stream without Content-Length: the limit is enforced while the bytes arrive.
      const big = png(maxBytes + 70_000);
      const streamed = await upload(
        img.id,
        Readable.from([big.subarray(0, 100_000), big.subarray(100_000)]),
      );
      assert.equal(streamed.statusCode, 413, streamed.body);
      assert.deepEqual(await imageRows(), before.rows);
      assert.equal(files(api.rt.config.objectDir).length, before.files);
      const ok = await upload(img.id, png(maxBytes));
      assert.equal(ok.statusCode, 200, 'exactly the limit is accepted');
    });

    test('a tampered, truncated or swapped object fails instead of serving bytes', async () => {
      const small = await newImage();
      const smallData = png(5_000);
      await upload(small.id, smallData);
      const file = await storedFile(small.id);
      const original = readFileSync(file);
      const flipped = Buffer.from(original);
      flipped[100] = flipped[100]! ^ 0x01;
      writeFileSync(file, flipped);
      const r = await call('GET', `/images/${small.id}/content`);
      assert.equal(r.statusCode, 500);
      assert.equal(r.json<{ code: string }>().code, 'decrypt_failed');
      assert.equal(r.rawPayload.indexOf(smallData.subarray(0, 64)), -1);
      assert.ok(
        failures.some((e) => e.type === 'crypto.decrypt_failed' && e.rowId === small.id),
        'the failure is a security event',
      );

      // Truncated: the last chunk removed from a multi-chunk object.
      const big = await newImage();
      const bigData = png(140_000);
      await upload(big.id, bigData);
      const bigFile = await storedFile(big.id);
      const bigOriginal = readFileSync(bigFile);
      truncateSync(bigFile, 8 + 2 * (65_536 + 16));
      // The first chunk authenticates, so the response starts; the stream then fails at the
      // chunk that was sealed as "not last" but is last now, and the response is aborted (a
      // client sees an incomplete body, short of Content-Length), never completed.
      await assert.rejects(
        call('GET', `/images/${big.id}/content`),
        /destroyed before completion/,
        'a truncated object is never served as complete',
      );
      assert.ok(failures.some((e) => e.rowId === big.id));
      // The trail says the download was cut short, how far it got, and why: the first chunk
      // (64 KiB) went out, the second failed authentication.
      const [cut] = await eventsAbout(big.id, 'image.download_incomplete');
      assert.equal(cut?.outcome, '8', 'a serious failure: Ward could not deliver what it stored');
      assert.equal(cut.outcome_reason, 'decrypt_failed');
      assert.deepEqual(cut.metadata, { sizeBytes: bigData.length, bytesSent: 65_536 });
      assert.equal((await eventsAbout(big.id, 'image.download')).length, 1);

      // Swapped: another image's object under this image's key.
      writeFileSync(bigFile, bigOriginal);
      writeFileSync(file, bigOriginal);
      const swapped = await call('GET', `/images/${small.id}/content`);
      assert.equal(swapped.statusCode, 500);
      writeFileSync(file, original);
      const restored = await call('GET', `/images/${small.id}/content`);
      assert.equal(restored.statusCode, 200);
      assert.ok(restored.rawPayload.equals(smallData));
      const whole = await call('GET', `/images/${big.id}/content`);
      assert.ok(whole.rawPayload.equals(bigData));
      // A failure on the first chunk is a 500 before any byte: its transaction (with the
      // download event) rolled back, so there is no download to follow up, only http.failed.
      assert.equal((await eventsAbout(small.id, 'image.download')).length, 1, 'the restored one');
      assert.equal((await eventsAbout(small.id, 'image.download_completed')).length, 1);
      assert.equal((await eventsAbout(small.id, 'image.download_incomplete', 0)).length, 0);

      // What a privacy officer sees: every download of the image, and which were complete.
      assert.equal((await eventsAbout(big.id, 'image.download_completed')).length, 1);
      const trail = await call('GET', `/audit/events?entityId=${big.id}&limit=50`, {
        token: admin,
      });
      assert.equal(trail.statusCode, 200, trail.body);
      const seen = trail
        .json<{ items: { eventType: string; outcome: string; outcomeReason: string | null }[] }>()
        .items.filter((e) => e.eventType.startsWith('image.download'))
        .map((e) => [e.eventType, e.outcome, e.outcomeReason]);
      assert.deepEqual(
        seen.sort(),
        [
          ['image.download', '0', null],
          ['image.download', '0', null],
          ['image.download_completed', '0', null],
          ['image.download_incomplete', '8', 'decrypt_failed'],
        ].sort(),
      );
    });

    test('a download cannot render or be taken in parts: fixed type, nosniff, sandbox, no ranges, no HEAD', async () => {
      const img = await newImage();
      const data = png(100_000);
      assert.equal((await upload(img.id, data)).statusCode, 200);
      const r = await call('GET', `/images/${img.id}/content`, {
        headers: { range: 'bytes=0-99', 'if-none-match': '*', 'if-range': '"x"' },
      });
      assert.equal(
        r.statusCode,
        200,
        'ranges and conditions are ignored: the whole file or nothing',
      );
      assert.ok(r.rawPayload.equals(data));
      assert.equal(r.headers['content-range'], undefined);
      assert.equal(r.headers['accept-ranges'], 'none');
      assert.equal(r.headers['content-type'], 'image/png');
      assert.equal(r.headers['x-content-type-options'], 'nosniff');
      assert.equal(r.headers['content-disposition'], 'attachment');
      assert.equal(r.headers['cache-control'], 'no-store');
      assert.match(String(r.headers['content-security-policy']), /default-src 'none'; sandbox/);

      // HEAD would decrypt and disclose for nothing: there is none.
      const downloads = await countEvents(api, 'image.download');
      const decrypt = mock.method(api.rt.crypto.codec, 'decryptKey');
      try {
        const head = await api.app.inject({
          method: 'HEAD',
          url: `/api/v1/images/${img.id}/content`,
          headers: auth(doctor, 'TREAT'),
        });
        assert.equal(head.statusCode, 404);
        assert.equal(decrypt.mock.callCount(), 0, 'no content key was opened');
      } finally {
        decrypt.mock.restore();
      }
      assert.equal(await countEvents(api, 'image.download'), downloads);

      // A stored type a browser would render is never served: the file goes out as bytes.
      await api.t.db.asAdmin(async (tx) => {
        await tx.query(
          'alter table clinical.medical_images disable trigger medical_images_content',
        );
        await tx.query(
          `update clinical.medical_images set content_type = 'text/html' where id = $1`,
          [img.id],
        );
        await tx.query('alter table clinical.medical_images enable trigger medical_images_content');
      });
      const html = await call('GET', `/images/${img.id}/content`);
      assert.equal(html.statusCode, 200);
      assert.equal(html.headers['content-type'], 'application/octet-stream');
      assert.equal(html.headers['content-disposition'], 'attachment');
    });

    test("another tenant's images and cases are 404s on every image route", async () => {
      const img = await newImage();
      await upload(img.id, png(2_000));
      for (const [method, url] of [
        ['GET', `/images/${img.id}`],
        ['GET', `/images/${img.id}/content`],
        ['GET', `/cases/${caseId}/images`],
      ] as const) {
        const r = await call(method, url, { token: other });
        assert.equal(r.statusCode, 404, `${method} ${url}`);
      }
      const create = await call('POST', `/cases/${caseId}/images`, {
        token: other,
        payload: { modality: 'CT', contentType: 'image/png' },
      });
      assert.equal(create.statusCode, 404);
      const fresh = await newImage();
      const put = await upload(fresh.id, png(2_000), 'image/png', other);
      assert.equal(put.statusCode, 404);
      const missing = await call('GET', `/images/${randomUUID()}/content`);
      assert.equal(missing.statusCode, 404);
      const anon = await api.app.inject({
        method: 'PUT',
        url: `/api/v1/images/${fresh.id}/content`,
        headers: { 'content-type': 'image/png' },
        payload: png(2_000),
      });
      assert.equal(anon.statusCode, 401);
      const meta = await call('GET', `/images/${fresh.id}`);
      assert.equal(meta.json<{ contentStored: boolean }>().contentStored, false);
    });

    test('content keys count in keys status: retire refuses until rewrap, then images still read', async () => {
      const img = await newImage();
      const data = png(70_000);
      await upload(img.id, data);
      const deps = {
        db: api.t.db,
        keyring: api.rt.crypto.keyring,
        events: api.rt.crypto.events,
      };
      const [rot] = await rotateDataKeys(deps, orgId);
      const old = (rot?.version ?? 2) - 1;
      const status = await keyStatus(deps, orgId);
      assert.ok((status.find((k) => k.version === old)?.values ?? 0) > 0);
      await assert.rejects(retireKey(deps, orgId, old), (e) => isWardError(e, 'key_in_use'));
      await rewrapValues(deps, { orgId, settleMs: 0 });
      await retireKey(deps, orgId, old);
      const down = await call('GET', `/images/${img.id}/content`);
      assert.equal(down.statusCode, 200, down.body.slice(0, 200));
      assert.ok(down.rawPayload.equals(data), 'the object was not rewritten, its key was resealed');
    });

    // Runs last: the care-team policy it adds applies to every later image request.
    test('an idempotent replay of an image create is authorized against the care team again', async () => {
      const c = await call('POST', '/cases', {
        payload: { patientId, chiefComplaint: 'Team case', assignedClinicians: [] },
      });
      assert.equal(c.statusCode, 201, c.body);
      const teamCase = c.json<{ id: string }>().id;
      const create = () =>
        call('POST', `/cases/${teamCase}/images`, {
          token: nurse,
          payload: { modality: 'MR', contentType: 'image/png', bodyPart: 'KNEE' },
          headers: { 'idempotency-key': 'img-replay-1' },
        });
      const first = await create();
      assert.equal(first.statusCode, 201, first.body);
      const id = first.json<{ id: string }>().id;
      // A policy then denies image access to those outside a case's care team.
      const policy = await call('POST', '/access-policies', {
        token: admin,
        payload: {
          name: 'images-care-team-only',
          document: { effect: 'deny', actions: ['image:*'], resource: { careTeam: 'non-member' } },
        },
      });
      assert.equal(policy.statusCode, 201, policy.body);
      assert.equal((await call('GET', `/images/${id}`, { token: nurse })).statusCode, 403);
      const replay = await create();
      assert.equal(replay.statusCode, 403, 'a replay discloses nothing the policy now denies');
      assert.equal(replay.body.includes('KNEE'), false);
    });
  });
}

// Over a real socket: an upload refused mid-stream still gets its 413 answer (the rest of the
// body is drained, so the client is not reset), and a download arrives whole.
describe('medical images over a listening server', () => {
  let api: TestApi;
  let base: string;
  let token: string;
  let imageId: string;
  let newImage: () => Promise<string>;
  before(async () => {
    api = await createTestApi(() => [], undefined, {
      WARD_IMAGE_MAX_BYTES: '100000',
      WARD_IMAGE_UPLOAD_IDLE_SECONDS: '1',
    });
    const org = await seedOrg(api, 'ImgNet', ['doctor']);
    token = await tokenFor(api, org.users['doctor']!.email);
    const h = { ...auth(token, 'TREAT') };
    const p = await api.app.inject({
      method: 'POST',
      url: '/api/v1/patients',
      headers: h,
      payload: {
        mrn: 'MRN-NET',
        firstName: 'Net',
        lastName: 'Synthetic',
        dateOfBirth: '1990-09-09',
      },
    });
    const c = await api.app.inject({
      method: 'POST',
      url: '/api/v1/cases',
      headers: h,
      payload: { patientId: p.json<{ id: string }>().id, chiefComplaint: 'Wrist pain' },
    });
    newImage = async () =>
      (
        await api.app.inject({
          method: 'POST',
          url: `/api/v1/cases/${c.json<{ id: string }>().id}/images`,
          headers: h,
          payload: { modality: 'DX', contentType: 'image/png' },
        })
      ).json<{ id: string }>().id;
    imageId = await newImage();
    await api.app.listen({ port: 0, host: '127.0.0.1' });
    const addr = api.app.server.address();
    base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  });
  after(async () => api.close());

  test('a chunked upload past the limit is answered 413, not a reset connection', async () => {
    const big = png(400_000);
    async function* body() {
      for (let i = 0; i < big.length; i += 16_384) {
        yield big.subarray(i, i + 16_384);
        await new Promise((r) => setTimeout(r, 1));
      }
    }
    const r = await fetch(`${base}/api/v1/images/${imageId}/content`, {
      method: 'PUT',
      headers: { ...auth(token, 'TREAT'), 'content-type': 'image/png' },
      body: Readable.toWeb(Readable.from(body())),
      duplex: 'half',
    });
    assert.equal(r.status, 413);
    assert.equal(((await r.json()) as { code: string }).code, 'payload_too_large');
    const data = png(90_000);
    const ok = await fetch(`${base}/api/v1/images/${imageId}/content`, {
      method: 'PUT',
      headers: { ...auth(token, 'TREAT'), 'content-type': 'image/png' },
      body: data,
    });
    assert.equal(ok.status, 200, await ok.clone().text());
    const down = await fetch(`${base}/api/v1/images/${imageId}/content`, {
      headers: auth(token, 'TREAT'),
    });
    assert.equal(down.status, 200);
    assert.ok(Buffer.from(await down.arrayBuffer()).equals(data));
  });

  test('an upload whose body stops arriving is answered 408 and leaves no staged file', async () => {
    const id = await newImage();
    const port = new URL(base).port;
    const socket = net.connect(Number(port), '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    let head = `PUT /api/v1/images/${id}/content HTTP/1.1\r\nHost: ward\r\n`;
    for (const [k, v] of Object.entries({ ...auth(token, 'TREAT'), 'content-type': 'image/png' }))
      head += `${k}: ${v}\r\n`;
    // Declares 50 kB, sends the signature and a little more, then nothing.
    socket.write(`${head}content-length: 50000\r\n\r\n`);
    socket.write(png(1_000));
    const answer = await Promise.race([
      new Promise<string>((r) => socket.once('data', (d: Buffer) => r(d.toString('latin1')))),
      new Promise<string>((r) => setTimeout(() => r('no answer'), 5_000)),
    ]);
    socket.destroy();
    assert.match(answer, /^HTTP\/1\.1 408 /);
    assert.match(answer, /request_timeout/);
    const staging = path.join(api.rt.config.objectDir, '.staging');
    assert.deepEqual(existsSync(staging) ? readdirSync(staging) : [], []);
    const meta = await api.app.inject({
      method: 'GET',
      url: `/api/v1/images/${id}`,
      headers: auth(token, 'TREAT'),
    });
    assert.equal(meta.json<{ contentStored: boolean }>().contentStored, false);
  });
});
