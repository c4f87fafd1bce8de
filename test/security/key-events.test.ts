import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { recordSystemAccess } from '../../src/modules/audit/system-recorder.ts';
import {
  retireKey,
  rotateDataKeys,
  shredOrganizationKeys,
  type KeyAdminDeps,
} from '../../src/modules/crypto/key-admin.ts';
import {
  startKeyEventListener,
  type KeyEventListener,
} from '../../src/modules/crypto/key-events.ts';
import { keyMiss } from '../../src/modules/crypto/keyring.ts';
import { rewrapValues } from '../../src/modules/crypto/rewrap.ts';
import { Database } from '../../src/platform/db/database.ts';
import { createPostgresDriver } from '../../src/platform/db/postgres.ts';
import { createLogger } from '../../src/platform/log.ts';
import { auth, createTestApi, seedOrg, tokenFor, type TestApi } from '../helpers/api.ts';
import { testCrypto } from '../helpers/crypto.ts';

// Crypto-shredding from another process (the CLI) while `ward serve` has the organization's
// keys cached: the server must stop decrypting as soon as the shred commits (PostgreSQL
// notification), not when its 60 s cache entry expires; also after its listener connection
// was killed. PostgreSQL only: on the embedded engine no other process can reach the data.
const pgUrl = process.env['WARD_TEST_DATABASE_URL'];

describe(
  'key events: shredding in another process reaches a running server',
  { skip: !pgUrl },
  () => {
    let api: TestApi;
    let listener: KeyEventListener;
    let cli: Database;
    let cliDeps: KeyAdminDeps;
    const logLines: string[] = [];

    before(async () => {
      api = await createTestApi(undefined, 'postgres');
      const sink = new Writable({
        write(chunk: Buffer, _enc, cb) {
          logLines.push(chunk.toString());
          cb();
        },
      });
      listener = startKeyEventListener({
        connectionString: api.t.url!,
        keyring: api.rt.crypto.keyring,
        logger: createLogger('info', sink),
        minBackoffMs: 50,
        maxBackoffMs: 400,
        heartbeatMs: 500,
      });
      await listener.whenListening(10_000);
      // A separate process: its own pool and keyring, as `ward keys shred` would have.
      cli = new Database(createPostgresDriver({ connectionString: api.t.url!, max: 2 }));
      cli.onSystemAccess(recordSystemAccess);
      const c = testCrypto();
      cliDeps = { db: cli, keyring: c.keyring, events: c.events };
    });
    after(async () => {
      await listener.stop();
      await cli.close();
      await api.close();
    });

    /** An organization with a doctor, a patient and (optionally) an uploaded image. */
    async function clinic(label: string, withImage = false) {
      const org = await seedOrg(api, label, ['doctor']);
      const token = await tokenFor(api, org.users['doctor']!.email);
      const call = (method: 'GET' | 'POST' | 'PUT', url: string, payload?: unknown, headers = {}) =>
        api.app.inject({
          method,
          url: `/api/v1${url}`,
          headers: { ...auth(token, 'TREAT'), ...headers },
          ...(payload !== undefined ? { payload: payload as Record<string, unknown> } : {}),
        });
      const firstName = `Shredme${label}`;
      const p = await call('POST', '/patients', {
        mrn: `MRN-KE-${label}`,
        firstName,
        lastName: 'Synthetic',
        dateOfBirth: '1971-02-03',
      });
      assert.equal(p.statusCode, 201, p.body);
      const patientId = p.json<{ id: string }>().id;
      let imageId: string | undefined;
      const image = Buffer.concat([
        Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
        Buffer.from(`IMAGE-PLAINTEXT-${label}-`.repeat(200)),
      ]);
      if (withImage) {
        const c = await call('POST', '/cases', { patientId, chiefComplaint: 'Synthetic cough' });
        assert.equal(c.statusCode, 201, c.body);
        const img = await call('POST', `/cases/${c.json<{ id: string }>().id}/images`, {
          modality: 'CT',
          contentType: 'image/png',
          bodyPart: 'CHEST',
          studyUid: '1.2.840.1',
        });
        assert.equal(img.statusCode, 201, img.body);
        imageId = img.json<{ id: string }>().id;
        const up = await call('PUT', `/images/${imageId}/content`, image, {
          'content-type': 'image/png',
        });
        assert.equal(up.statusCode, 200, up.body);
      }
      const readPatient = () => call('GET', `/patients/${patientId}`);
      const readImage = () => call('GET', `/images/${imageId}/content`);
      // Read once: the server's keyring now holds the organization's keys.
      const first = await readPatient();
      assert.equal(first.statusCode, 200, first.body);
      assert.ok(first.body.includes(firstName));
      if (withImage) {
        const down = await readImage();
        assert.equal(down.statusCode, 200);
        assert.ok(down.rawPayload.equals(image));
      }
      return { orgId: org.orgId, firstName, image, readPatient, readImage };
    }

    type Clinic = Awaited<ReturnType<typeof clinic>>;

    /**
     * Polls until the patient reads 410 key_destroyed (failing after `withinMs`), then checks that
     * it stays so. No response, before or after, may carry the plaintext once `strict` is set.
     */
    async function expectShredded(c: Clinic, withinMs: number, strict: boolean) {
      const deadline = Date.now() + withinMs;
      for (;;) {
        const r = await c.readPatient();
        if (r.statusCode === 410) {
          assert.equal(r.json<{ code?: string }>().code, 'key_destroyed', r.body);
          assert.ok(!r.body.includes(c.firstName));
          break;
        }
        if (strict) assert.ok(!r.body.includes(c.firstName), 'plaintext served after the shred');
        assert.ok(
          Date.now() < deadline,
          `still ${r.statusCode} ${r.statusCode === 200 ? '(plaintext)' : r.body} ${withinMs} ms after the shred`,
        );
        await sleep(25);
      }
      for (let i = 0; i < 3; i++) {
        const r = await c.readPatient();
        assert.equal(r.statusCode, 410, r.body);
        assert.ok(!r.body.includes(c.firstName));
      }
    }

    test('a shred committed by another process makes reads 410 within a second', async () => {
      const c = await clinic('A', true);
      const bystander = await clinic('B');
      await shredOrganizationKeys(cliDeps, c.orgId, 'test: offboarded while the server runs');
      await expectShredded(c, 1_000, false);
      const down = await c.readImage();
      assert.equal(down.statusCode, 410, down.body.slice(0, 200));
      assert.ok(!down.rawPayload.includes(Buffer.from('IMAGE-PLAINTEXT-A-')));
      // Another tenant's keys are untouched.
      const other = await bystander.readPatient();
      assert.equal(other.statusCode, 200, other.body);
      assert.ok(other.body.includes(bystander.firstName));
    });

    test('a shred naming the organization in upper case still reaches the server', async () => {
      // `ward keys shred --org` accepts any UUID spelling and PostgreSQL compares uuids
      // case-insensitively, so the keys are destroyed; the server's cache must follow too.
      const c = await clinic('U');
      const shouted = c.orgId.toUpperCase();
      assert.notEqual(shouted, c.orgId);
      // A notification from a CLI of an older release still carries the spelling it was given.
      const keyring = api.rt.crypto.keyring;
      assert.equal(
        keyring.cachedVersion(c.orgId, 1, () => true),
        true,
      );
      keyring.forget(shouted);
      assert.equal(
        keyring.cachedVersion(c.orgId, 1, () => true),
        keyMiss,
      );
      assert.equal((await c.readPatient()).statusCode, 200);
      await shredOrganizationKeys(cliDeps, shouted, 'test: organization id typed in upper case');
      await expectShredded(c, 1_000, false);
    });

    test('after its connection is killed the listener reconnects, drops cached keys, and listens again', async () => {
      // Shredded while the listener is down: the notification is lost, the reconnect must cover it.
      const missed = await clinic('C');
      const pid = listener.backendPid;
      assert.ok(pid, 'the listener has a backend');
      const killed = await api.t.db.asAdmin((tx) =>
        tx.query<{ ok: boolean }>('select pg_terminate_backend($1) as ok', [pid]),
      );
      assert.equal(killed.rows[0]?.ok, true);
      await shredOrganizationKeys(cliDeps, missed.orgId, 'test: shredded while disconnected');
      await expectShredded(missed, 5_000, false);

      // Listening again on a new connection: a shred now arrives by notification.
      const deadline = Date.now() + 5_000;
      while (!(listener.listening && listener.backendPid !== pid)) {
        assert.ok(Date.now() < deadline, 'the listener did not reconnect within 5 s');
        await sleep(25);
      }
      const later = await clinic('D');
      await shredOrganizationKeys(cliDeps, later.orgId, 'test: shredded after the reconnect');
      await expectShredded(later, 1_000, false);

      const logged = logLines.join('');
      assert.match(logged, /key event listener lost its connection/);
      assert.match(logged, /key event listener reconnected; dropped all cached keys/);
      for (const name of [missed.firstName, later.firstName])
        assert.ok(!logged.includes(name), 'no PHI in the listener log');
    });

    test('a version retired by another process leaves the server cache', async () => {
      const c = await clinic('E');
      const keyring = api.rt.crypto.keyring;
      const cached = keyring.cachedVersion(c.orgId, 1, () => true);
      assert.equal(cached, true, 'version 1 is cached after the read');
      await rotateDataKeys(cliDeps, c.orgId);
      await rewrapValues(cliDeps, { orgId: c.orgId });
      await retireKey(cliDeps, c.orgId, 1);
      const deadline = Date.now() + 1_000;
      while (keyring.cachedVersion(c.orgId, 1, () => true) !== keyMiss) {
        assert.ok(Date.now() < deadline, 'the retired version is still cached 1 s later');
        await sleep(25);
      }
      // The data moved to version 2 and still reads.
      const r = await c.readPatient();
      assert.equal(r.statusCode, 200, r.body);
      assert.ok(r.body.includes(c.firstName));
    });
  },
);
