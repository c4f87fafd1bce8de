import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, mock, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { LocalObjectStore } from '../../src/platform/objects/local-store.ts';
import {
  auth,
  createTestApi,
  enrollTotp,
  seedOrg,
  tokenFor,
  type TestApi,
} from '../helpers/api.ts';
import { availableEngines } from '../helpers/db.ts';

// Downloads that do not end with the whole file, over a real socket: a client that leaves
// before or during the transfer, a store that fails part-way, an object that fails
// authentication part-way. Each must release its file and content key, abort rather than
// complete its response, and leave an audit record saying how far it got and why.

const pngSignature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const chunk = 64 * 1024;
const sealedChunk = chunk + 16;

function png(size: number): Buffer {
  const b = randomBytes(size);
  pngSignature.copy(b, 0);
  return b;
}

/** The local store, with hooks that make a read wait before it opens, pause, or fail. */
class TestStore extends LocalObjectStore {
  /** Runs before the object is opened (a read can be held there). */
  beforeOpen: (() => Promise<void>) | undefined;
  /** After `bytes`, the stream waits for `until` before going on. */
  pauseAfter: { bytes: number; until: Promise<void> } | undefined;
  /** After this many bytes, the stream fails as a broken disk or bucket would. */
  failAfter: number | undefined;

  override async read(key: string): Promise<Readable> {
    await this.beforeOpen?.();
    const inner = await super.read(key);
    const pause = this.pauseAfter;
    const fail = this.failAfter;
    if (!pause && fail === undefined) return inner;
    async function* parts(): AsyncGenerator<Buffer> {
      let n = 0;
      let paused = false;
      for await (const c of inner as AsyncIterable<Buffer>) {
        if (fail !== undefined && n + c.length > fail) {
          yield c.subarray(0, fail - n);
          throw new Error('EIO: the object store failed');
        }
        n += c.length;
        yield c;
        if (pause && !paused && n >= pause.bytes) {
          paused = true;
          await pause.until;
        }
      }
    }
    return Readable.from(parts(), { objectMode: false });
  }
}

/** How many of this process's file descriptors are open on files under `dir`. */
function openFilesUnder(dir: string): number {
  let n = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`).startsWith(dir + path.sep)) n += 1;
    } catch {
      // closed meanwhile (the directory listing's own descriptor, for one)
    }
  }
  return n;
}

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** Writes a GET on a fresh socket; the caller reads or drops the answer. */
async function rawGet(port: number, url: string, headers: Record<string, string>) {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  let head = `GET ${url} HTTP/1.1\r\nHost: ward\r\n`;
  for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
  socket.write(`${head}\r\n`);
  return socket;
}

/** Reads a response until the connection closes; returns its status, headers and body. */
async function readToClose(socket: net.Socket) {
  const parts: Buffer[] = [];
  socket.on('data', (d: Buffer) => parts.push(d));
  await new Promise<void>((r) => socket.once('close', () => r()));
  const all = Buffer.concat(parts);
  const end = all.indexOf('\r\n\r\n');
  const head = all.subarray(0, end).toString('latin1');
  const length = /\r\ncontent-length: (\d+)/i.exec(head)?.[1];
  return {
    status: Number(head.split(' ')[1]),
    contentLength: length === undefined ? undefined : Number(length),
    chunked: /\r\ntransfer-encoding: chunked/i.test(head),
    body: all.subarray(end + 4),
  };
}

interface EndRow {
  outcome: string;
  outcome_reason: string | null;
  request_id: string;
  metadata: { sizeBytes: number; bytesSent: number };
}

const supported = existsSync('/proc/self/fd');

for (const engine of availableEngines())
  describe(
    `image downloads that end early, over a listening server (${engine})`,
    { skip: !supported },
    () => {
      let api: TestApi;
      let store!: TestStore;
      let port: number;
      let headers: Record<string, string>;
      let auditor: string;
      let newImage: (size: number) => Promise<{ id: string; data: Buffer }>;
      const keys: Buffer[] = [];
      const securityEvents: string[] = [];

      before(async () => {
        api = await createTestApi(
          () => [],
          engine,
          { WARD_IMAGE_MAX_BYTES: '2000000' },
          { objectStore: (dir) => (store = new TestStore(dir)) },
        );
        const org = await seedOrg(api, 'Ends', ['doctor', 'auditor']);
        headers = auth(await tokenFor(api, org.users['doctor']!.email), 'TREAT');
        auditor = await tokenFor(api, org.users['auditor']!.email);
        // Auditors read the audit trail in bulk, so they use MFA.
        await enrollTotp(api, auditor);
        const p = await api.app.inject({
          method: 'POST',
          url: '/api/v1/patients',
          headers,
          payload: {
            mrn: 'MRN-ENDS',
            firstName: 'End',
            lastName: 'Synthetic',
            dateOfBirth: '1980-02-02',
          },
        });
        const c = await api.app.inject({
          method: 'POST',
          url: '/api/v1/cases',
          headers,
          payload: { patientId: p.json<{ id: string }>().id, chiefComplaint: 'Ankle sprain' },
        });
        const caseId = c.json<{ id: string }>().id;
        newImage = async (size) => {
          const img = await api.app.inject({
            method: 'POST',
            url: `/api/v1/cases/${caseId}/images`,
            headers,
            payload: { modality: 'DX', contentType: 'image/png' },
          });
          const id = img.json<{ id: string }>().id;
          const data = png(size);
          const up = await api.app.inject({
            method: 'PUT',
            url: `/api/v1/images/${id}/content`,
            headers: { ...headers, 'content-type': 'image/png' },
            payload: data,
          });
          assert.equal(up.statusCode, 200, up.body);
          return { id, data };
        };
        // Every content key a download opens, to check that each is zeroed however it ended.
        const codec = api.rt.crypto.codec;
        const decryptKey = codec.decryptKey.bind(codec);
        mock.method(codec, 'decryptKey', async (...args: Parameters<typeof decryptKey>) => {
          const key = await decryptKey(...args);
          keys.push(key);
          return key;
        });
        api.rt.crypto.onSecurityEvent((e) => {
          securityEvents.push(e.type);
        });
        await api.app.listen({ port: 0, host: '127.0.0.1' });
        const addr = api.app.server.address();
        port = typeof addr === 'object' && addr ? addr.port : 0;
      });
      after(async () => {
        mock.restoreAll();
        await api.close();
      });

      /** The end events of an image's downloads, once there are `n`. */
      const endsOf = async (id: string, type: string, n: number): Promise<EndRow[]> => {
        for (let i = 0; ; i += 1) {
          const r = await api.t.db.asAdmin((tx) =>
            tx.query<EndRow>(
              `select outcome, outcome_reason, request_id, metadata from audit.events
            where entity_id = $1 and event_type = $2 order by id`,
              [id, type],
            ),
          );
          if (r.rows.length >= n || i === 300) return r.rows;
          await sleep(10);
        }
      };

      test('downloads abandoned at every stage leave no open file and no content key, and each is audited as incomplete', async () => {
        const { id, data } = await newImage(1_000_000);
        const url = `/api/v1/images/${id}/content`;
        const dir = api.rt.config.objectDir;
        const openBefore = openFilesUnder(dir);
        const keysBefore = keys.length;

        // 1. The client leaves while the request runs: after the content key is opened, before
        //    the object is, and so before the response could start.
        for (let i = 0; i < 5; i += 1) {
          const gate = deferred();
          const reached = deferred();
          store.beforeOpen = async () => {
            reached.resolve();
            await gate.promise;
          };
          const socket = await rawGet(port, url, headers);
          await reached.promise;
          socket.destroy();
          await sleep(30);
          store.beforeOpen = undefined;
          gate.resolve();
        }
        // 2. The client leaves mid-stream, while the reader waits for the store.
        for (let i = 0; i < 5; i += 1) {
          const gate = deferred();
          store.pauseAfter = { bytes: 3 * chunk, until: gate.promise };
          const socket = await rawGet(port, url, headers);
          await once(socket, 'data');
          socket.destroy();
          await sleep(30);
          store.pauseAfter = undefined;
          gate.resolve();
        }
        // 3. The store fails part-way.
        for (let i = 0; i < 3; i += 1) {
          store.failAfter = 300_000;
          const r = await fetch(`http://127.0.0.1:${port}${url}`, { headers });
          assert.equal(r.status, 200);
          await assert.rejects(r.arrayBuffer(), 'the client sees the response fail, not end');
          store.failAfter = undefined;
        }

        const ends = await endsOf(id, 'image.download_incomplete', 13);
        assert.equal(ends.length, 13);
        const left = ends.filter((e) => e.outcome_reason === 'connection_closed');
        assert.equal(left.length, 10);
        assert.ok(
          left.every((e) => e.outcome === '4'),
          'the client ended it: a minor failure',
        );
        assert.equal(
          left.filter((e) => e.metadata.bytesSent === 0).length,
          5,
          'stage 1 sent nothing',
        );
        assert.ok(
          left.every((e) => e.metadata.bytesSent < data.length),
          'none is recorded as the whole file',
        );
        const broken = ends.filter((e) => e.outcome_reason === 'object_read_failed');
        assert.equal(broken.length, 3);
        assert.ok(broken.every((e) => e.outcome === '8' && e.metadata.bytesSent < 300_000));
        assert.equal((await endsOf(id, 'image.download_completed', 0)).length, 0);
        // Each has its download event, committed before the bytes (same request id).
        const starts = await endsOf(id, 'image.download', 13);
        assert.deepEqual(
          starts.map((e) => e.request_id).sort(),
          ends.map((e) => e.request_id).sort(),
        );

        // Nothing is left open, and every content key those downloads opened is zeroed.
        for (let i = 0; i < 100 && openFilesUnder(dir) > openBefore; i += 1) await sleep(20);
        assert.equal(openFilesUnder(dir), openBefore, 'no object file is left open');
        const opened = keys.slice(keysBefore);
        assert.equal(opened.length, 13);
        assert.ok(
          opened.every((k) => k.every((b) => b === 0)),
          'every content key is zeroed',
        );
        // Closing a reader in the middle of a read is not mistaken for tampering.
        assert.deepEqual(securityEvents, []);

        // And the image still downloads whole.
        const whole = await fetch(`http://127.0.0.1:${port}${url}`, { headers });
        assert.ok(Buffer.from(await whole.arrayBuffer()).equals(data));
        assert.equal((await endsOf(id, 'image.download_completed', 1)).length, 1);
      });

      test('an object failing authentication after bytes were sent aborts the response short of its length, and the trail says so', async () => {
        const { id, data } = await newImage(1_000_000);
        const url = `/api/v1/images/${id}/content`;
        const r = await api.t.db.asAdmin((tx) =>
          tx.query<{ k: string }>(
            'select storage_key as k from clinical.medical_images where id = $1',
            [id],
          ),
        );
        const file = path.join(api.rt.config.objectDir, r.rows[0]!.k);
        const stored = readFileSync(file);
        stored[8 + 5 * sealedChunk + 100]! ^= 0x01; // chunk 5 of 16 is corrupt
        writeFileSync(file, stored);

        const answer = await readToClose(await rawGet(port, url, headers));
        assert.equal(answer.status, 200, 'the first chunks authenticated, so the response started');
        assert.equal(answer.contentLength, data.length);
        assert.equal(answer.chunked, false);
        assert.ok(
          answer.body.length < data.length,
          'the connection closed short of Content-Length',
        );
        assert.ok(answer.body.length <= 5 * chunk, 'nothing past the corrupt chunk was sent');
        assert.ok(answer.body.equals(data.subarray(0, answer.body.length)));
        const viaFetch = await fetch(`http://127.0.0.1:${port}${url}`, { headers });
        await assert.rejects(
          viaFetch.arrayBuffer(),
          'an ordinary client sees an error, not a file',
        );

        const ends = await endsOf(id, 'image.download_incomplete', 2);
        assert.equal(ends.length, 2);
        for (const e of ends) {
          assert.equal(e.outcome, '8');
          assert.equal(e.outcome_reason, 'decrypt_failed');
          assert.deepEqual(e.metadata, { sizeBytes: data.length, bytesSent: 5 * chunk });
        }

        // A privacy officer's view: the failed downloads, how far each got and why.
        const listed = await fetch(
          `http://127.0.0.1:${port}/api/v1/audit/events?entityId=${id}&outcome=8`,
          { headers: auth(auditor, 'HCOMPL') },
        );
        assert.equal(listed.status, 200, await listed.clone().text());
        const items = ((await listed.json()) as { items: Record<string, unknown>[] }).items;
        assert.deepEqual(
          items.map((e) => [e['eventType'], e['outcomeReason'], e['metadata']]),
          [
            [
              'image.download_incomplete',
              'decrypt_failed',
              { sizeBytes: data.length, bytesSent: 5 * chunk },
            ],
            [
              'image.download_incomplete',
              'decrypt_failed',
              { sizeBytes: data.length, bytesSent: 5 * chunk },
            ],
          ],
        );
      });

      // Runs last: it closes the server.
      test('shutdown waits until the end of a download it cut short is recorded', async () => {
        const { id } = await newImage(1_000_000);
        const gate = deferred();
        store.pauseAfter = { bytes: 3 * chunk, until: gate.promise };
        const socket = await rawGet(port, `/api/v1/images/${id}/content`, headers);
        await once(socket, 'data'); // committed and streaming
        store.pauseAfter = undefined;
        // Hold audit inserts, so the end event waits while the server shuts down.
        const locked = deferred();
        const unlock = deferred();
        const held = api.t.db.asAdmin(async (tx) => {
          await tx.query('lock table audit.events in exclusive mode');
          locked.resolve();
          await unlock.promise;
        });
        await locked.promise;
        socket.destroy();
        gate.resolve();
        const closing = api.app.close();
        const early = await Promise.race([
          closing.then(() => 'closed'),
          sleep(300).then(() => 'waiting'),
        ]);
        unlock.resolve();
        await held;
        await closing;
        assert.equal(
          early,
          'waiting',
          'the server did not finish closing before the event was written',
        );
        const ends = await endsOf(id, 'image.download_incomplete', 1);
        assert.equal(ends[0]?.outcome_reason, 'connection_closed');
      });
    },
  );
