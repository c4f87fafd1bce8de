import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  createCrypto,
  type SecurityEvent,
  type WardCrypto,
} from '../../src/modules/crypto/index.ts';
import { createLocalKek } from '../../src/modules/crypto/kek/local-provider.ts';
import type { KekProvider } from '../../src/modules/crypto/kek/provider.ts';
import { rotateKek } from '../../src/modules/crypto/kek-admin.ts';
import {
  keyStatus,
  retireKey,
  rotateDataKeys,
  shredOrganizationKeys,
} from '../../src/modules/crypto/key-admin.ts';
import { rewrapValues } from '../../src/modules/crypto/rewrap.ts';
import { qualified, ident, type Tx } from '../../src/platform/db/index.ts';
import { isWardError } from '../../src/platform/errors.ts';
import { pino } from 'pino';
import { availableEngines, createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { testCrypto, testMasterKey } from '../helpers/crypto.ts';
import { seedTenant, type TenantFixture } from '../helpers/fixtures.ts';
import {
  createPatientTable,
  insertPatient,
  patientFields,
  patientIndexes,
  patientRegistry,
  syntheticPatient,
} from '../helpers/phi-table.ts';

const table = 'test_phi.patients';

for (const engine of availableEngines()) {
  describe(`PHI encryption (${engine})`, () => {
    let t: TestDatabase;
    let crypto: WardCrypto;
    let a: TenantFixture;
    let b: TenantFixture;
    const events: SecurityEvent[] = [];
    const ids: { a: string[]; b: string[] } = { a: [], b: [] };
    const registry = patientRegistry();
    const deps = () => ({ db: t.db, keyring: crypto.keyring, events: crypto.events, registry });
    const as = <T>(org: string, fn: (tx: Tx) => Promise<T>) =>
      t.db.withContext({ orgId: org, actorType: 'user' }, fn);

    before(async () => {
      t = await createTestDatabase({ engine });
      crypto = testCrypto({ primaryTtlMs: 0 });
      crypto.onSecurityEvent((e) => {
        events.push(e);
      });
      a = await seedTenant(t.db, 'A');
      b = await seedTenant(t.db, 'B');
      await createPatientTable(t.db);
      for (let i = 0; i < 20; i++) {
        ids.a.push(
          await as(a.orgId, (tx) => insertPatient(tx, crypto.codec, a.orgId, syntheticPatient(i))),
        );
        ids.b.push(
          await as(b.orgId, (tx) => insertPatient(tx, crypto.codec, b.orgId, syntheticPatient(i))),
        );
      }
    });
    after(async () => t.close());

    const read = (org: string, id: string, columns: readonly string[] = patientFields) =>
      as(org, async (tx) => {
        const r = await tx.query<Record<string, Buffer | null>>(
          `select * from ${table} where organization_id = $1 and id = $2`,
          [org, id],
        );
        return crypto.codec.decryptRow(tx, { orgId: org, table, rowId: id }, r.rows[0]!, columns);
      });

    test('every PHI column holds only ciphertext (raw scan after a realistic insert)', async () => {
      const plaintexts = [...Array(20).keys()].flatMap((i) => Object.values(syntheticPatient(i)));
      for (const c of registry.encryptedColumns()) {
        const r = await t.db.asAdmin((tx) =>
          tx.query<{ v: Buffer | null }>(
            `select ${ident(c.column)} as v from ${qualified(c.schema, c.table)}`,
          ),
        );
        assert.ok(r.rows.length > 0, `${c.table}.${c.column} has no rows to check`);
        for (const { v } of r.rows) {
          assert.ok(Buffer.isBuffer(v), `${c.table}.${c.column} holds a non-bytea value`);
          assert.equal(v[0], 0x01, `${c.table}.${c.column}: not format 1`);
          assert.ok(v.length >= 33);
          const text = v.toString('latin1');
          for (const p of plaintexts)
            assert.ok(!text.includes(p), `${c.table}.${c.column} contains plaintext`);
        }
      }
    });

    test('read-by-id decrypts exactly the requested fields', async () => {
      const all = await read(a.orgId, ids.a[3]!);
      assert.equal(all.ssn_encrypted, syntheticPatient(3).ssn_encrypted);
      assert.equal(all.insurance_encrypted, syntheticPatient(3).insurance_encrypted);
      const some = await read(a.orgId, ids.a[3]!, ['first_name_encrypted']);
      assert.deepEqual(Object.keys(some), ['first_name_encrypted']);
    });

    test('a blind index finds the patient by a differently written value, only in its tenant', async () => {
      const find = (org: string, email: string) =>
        as(org, async (tx) => {
          const idx = await crypto.codec.blindIndex(tx, org, patientIndexes.email, email);
          const r = await tx.query<{ id: string }>(
            `select id from ${table} where organization_id = $1 and email_bidx = $2`,
            [org, idx],
          );
          return r.rows.map((x) => x.id);
        });
      assert.deepEqual(await find(a.orgId, '  PATIENT7@Example.TEST'), [ids.a[7]]);
      assert.deepEqual(await find(b.orgId, 'patient7@example.test'), [ids.b[7]]);
      assert.deepEqual(await find(a.orgId, 'nobody@example.test'), []);
      const [ia, ib] = await Promise.all([
        as(a.orgId, (tx) =>
          crypto.codec.blindIndex(tx, a.orgId, patientIndexes.email, 'patient7@example.test'),
        ),
        as(b.orgId, (tx) =>
          crypto.codec.blindIndex(tx, b.orgId, patientIndexes.email, 'patient7@example.test'),
        ),
      ]);
      assert.notDeepEqual(ia, ib, 'two tenants must not share blind-index values');
    });

    test('cached keys answer without a query; a derived index key equals a fresh derivation; forget drops both', async () => {
      const c = testCrypto();
      let queries = 0;
      const counted = (tx: Tx): Tx => ({
        ...tx,
        query: (text, params) => {
          queries++;
          return tx.query(text, params);
        },
      });
      const indexOf = (value: string) =>
        as(a.orgId, (tx) => c.codec.blindIndex(counted(tx), a.orgId, patientIndexes.email, value));
      const first = await indexOf('patient7@example.test');
      assert.ok(queries > 0, 'a cold keyring loads the index root');
      queries = 0;
      assert.deepEqual(await indexOf('Patient7@Example.test'), first);
      await as(a.orgId, (tx) =>
        c.codec.blindIndex(counted(tx), a.orgId, patientIndexes.ssn, '123-45-6789'),
      );
      const row = await as(a.orgId, async (tx) => {
        const r = await tx.query<Record<string, Buffer | null>>(
          `select * from ${table} where organization_id = $1 and id = $2`,
          [a.orgId, ids.a[7]!],
        );
        queries = 0;
        await c.codec.decryptRow(
          counted(tx),
          { orgId: a.orgId, table, rowId: ids.a[7]! },
          r.rows[0]!,
          patientFields,
        );
        const cold = queries;
        queries = 0;
        const warm = await c.codec.decryptRow(
          counted(tx),
          { orgId: a.orgId, table, rowId: ids.a[7]! },
          r.rows[0]!,
          patientFields,
        );
        return { cold, warm };
      });
      assert.ok(row.cold > 0, 'a cold keyring loads the data key');
      assert.equal(row.warm.email_encrypted, 'patient7@example.test');
      assert.equal(queries, 0, 'cached data and index keys need no query');
      // The same value through a keyring that derives afresh gives the same index.
      assert.deepEqual(
        await as(a.orgId, (tx) =>
          crypto.codec.blindIndex(tx, a.orgId, patientIndexes.email, 'patient7@example.test'),
        ),
        first,
      );
      c.keyring.forget(a.orgId);
      queries = 0;
      assert.deepEqual(await indexOf('patient7@example.test'), first);
      assert.ok(queries > 0, 'after forget the index root is loaded again');
      c.keyring.clear();
    });

    test('swapping ciphertext between rows, columns or tenants fails, names the place, and is reported', async () => {
      const swap = async (
        sql: string,
        params: unknown[],
        org: string,
        id: string,
        column: string,
      ) => {
        await t.db.asAdmin((tx) => tx.query(sql, params));
        events.length = 0;
        await assert.rejects(read(org, id, [column]), (e: unknown) => {
          assert.ok(isWardError(e, 'decrypt_failed'));
          assert.match(e.message, new RegExp(`${table}\\.${column} for row ${id}`));
          for (const v of Object.values(syntheticPatient(0))) assert.ok(!e.message.includes(v));
          return true;
        });
        assert.deepEqual(
          events.map((x) => x.type),
          ['crypto.decrypt_failed'],
        );
      };
      const [r1, r2, r3, r4] = [ids.a[10]!, ids.a[11]!, ids.a[12]!, ids.b[13]!];
      await swap(
        `update ${table} set ssn_encrypted = (select ssn_encrypted from ${table} where id = $2) where id = $1`,
        [r1, r2],
        a.orgId,
        r1,
        'ssn_encrypted',
      );
      await swap(
        `update ${table} set email_encrypted = ssn_encrypted where id = $1`,
        [r3],
        a.orgId,
        r3,
        'email_encrypted',
      );
      // Tenant B's value placed in tenant B's row id slot of tenant A is rejected too.
      await swap(
        `update ${table} set phone_encrypted = (select phone_encrypted from ${table} where id = $2) where id = $1`,
        [ids.a[14]!, r4],
        a.orgId,
        ids.a[14]!,
        'phone_encrypted',
      );
      // The other fields of a tampered row still read correctly.
      assert.equal(
        (await read(a.orgId, r1, ['first_name_encrypted'])).first_name_encrypted,
        'Firstname10',
      );
    });

    test('rotate, status, retire refused while used, rewrap, retire allowed', async () => {
      const [rot] = await rotateDataKeys(deps(), a.orgId);
      assert.equal(rot?.version, 2);
      const fresh = await as(a.orgId, (tx) =>
        insertPatient(tx, crypto.codec, a.orgId, syntheticPatient(99)),
      );
      const raw = await t.db.asAdmin((tx) =>
        tx.query<{ v: Buffer }>(`select ssn_encrypted as v from ${table} where id = $1`, [fresh]),
      );
      assert.equal(raw.rows[0]!.v.readUInt32BE(1), 2, 'new writes use the new primary at once');
      const before = await keyStatus(deps(), a.orgId);
      const v1 = before.find((k) => k.version === 1)!;
      assert.equal(v1.status, 'decrypt_only');
      assert.ok(v1.values >= 20 * 9);
      await assert.rejects(retireKey(deps(), a.orgId, 1), (e) => isWardError(e, 'key_in_use'));
      await assert.rejects(retireKey(deps(), a.orgId, 2), (e) => isWardError(e, 'key_in_use'));
      const report = await rewrapValues(deps(), {
        orgId: a.orgId,
        batchSize: 7,
        settleMs: 0,
        registry,
      });
      assert.equal(
        report.organizations[0]?.failed,
        3,
        'the three tampered values are reported, not rewritten',
      );
      const again = await rewrapValues(deps(), {
        orgId: a.orgId,
        batchSize: 7,
        settleMs: 0,
        registry,
      });
      assert.equal(again.organizations[0]?.rewrapped, 0, 'a second run is a no-op');
      // Repair the tampered values, so that version 1 protects nothing.
      for (const [i, id] of [
        [10, ids.a[10]!],
        [12, ids.a[12]!],
        [14, ids.a[14]!],
      ] as const) {
        await as(a.orgId, async (tx) => {
          const p = syntheticPatient(i);
          const s = await crypto.codec.encryptRow(
            tx,
            { orgId: a.orgId, table, rowId: id },
            {
              ssn_encrypted: p.ssn_encrypted,
              email_encrypted: p.email_encrypted,
              phone_encrypted: p.phone_encrypted,
            },
          );
          await tx.query(
            `update ${table} set ssn_encrypted = $2, email_encrypted = $3, phone_encrypted = $4 where id = $1`,
            [id, s.ssn_encrypted, s.email_encrypted, s.phone_encrypted],
          );
        });
      }
      const after = await keyStatus(deps(), a.orgId);
      assert.equal(after.find((k) => k.version === 1)?.values, 0);
      await retireKey(deps(), a.orgId, 1);
      for (const [i, id] of ids.a.entries()) {
        const row = await read(a.orgId, id);
        assert.equal(row.last_name_encrypted, `Lastname${i}`);
      }
    });

    test('KEK rotation re-wraps keys without touching data; a wrong KEK is refused', async () => {
      const before = await t.db.asAdmin((tx) =>
        tx.query<{ s: string }>(
          `select string_agg(encode(ssn_encrypted, 'hex'), ',' order by id) as s from ${table}`,
        ),
      );
      const newKey = Buffer.alloc(32, 7);
      const oldKek = createLocalKek(testMasterKey, 'env');
      const newKek = createLocalKek(newKey, 'env');
      // While the rotation runs, a process still configured with the old KEK (a server not yet
      // restarted) makes a new data-key version: it must not be left under the old KEK.
      let lagging: Promise<unknown> | undefined;
      const racing: KekProvider = {
        ...newKek,
        async wrap(key, ctx) {
          lagging ??= rotateDataKeys(deps(), b.orgId);
          await lagging;
          return newKek.wrap(key, ctx);
        },
      };
      const rotated = createCrypto(
        { current: racing, previous: [oldKek] },
        pino({ level: 'silent' }),
      );
      const rotationEvents: SecurityEvent[] = [];
      rotated.onSecurityEvent((e) => {
        rotationEvents.push(e);
      });
      assert.ok((await rotateKek(t.db, rotated.keyring, rotated.events)) >= 5);
      assert.ok(lagging, 'the racing key version was written during the rotation');
      const left = await t.db.asAdmin((tx) =>
        tx.query<{ n: number }>(
          `select count(*)::int as n from ward.encryption_keys where kek_id = $1 and wrapped_key is not null`,
          [oldKek.id],
        ),
      );
      assert.equal(left.rows[0]?.n, 0, 'no data key is left wrapped only by the old KEK');
      // The audit trail names the KEK that was rotated away from, not only the new one.
      assert.deepEqual(
        rotationEvents.map((e) => e.type === 'crypto.kek_rotated' && e.previousKekIds),
        [[oldKek.id]],
      );
      const only = createCrypto(
        { current: createLocalKek(newKey, 'env'), previous: [] },
        pino({ level: 'silent' }),
      );
      await only.verify(t.db);
      const r = await t.db.withContext({ orgId: b.orgId, actorType: 'user' }, async (tx) => {
        const row = await tx.query<Record<string, Buffer>>(`select * from ${table} where id = $1`, [
          ids.b[5]!,
        ]);
        return only.codec.decryptRow(
          tx,
          { orgId: b.orgId, table, rowId: ids.b[5]! },
          row.rows[0]!,
          ['email_encrypted'],
        );
      });
      assert.equal(r.email_encrypted, 'patient5@example.test');
      const afterRows = await t.db.asAdmin((tx) =>
        tx.query<{ s: string }>(
          `select string_agg(encode(ssn_encrypted, 'hex'), ',' order by id) as s from ${table}`,
        ),
      );
      assert.equal(afterRows.rows[0]?.s, before.rows[0]?.s, 'field values are untouched');
      await assert.rejects(
        crypto.verify(t.db),
        (e) => isWardError(e, 'kek_unavailable') && /configured KEK/.test(e.message),
      );
      crypto = only;
      crypto.onSecurityEvent((e) => {
        events.push(e);
      });
    });

    test('a shredded organization can no longer be read; other tenants are unaffected', async () => {
      events.length = 0;
      const destroyed = await shredOrganizationKeys(deps(), a.orgId, 'test: tenant offboarded');
      assert.deepEqual(destroyed, [1, 2]);
      assert.equal(events[0]?.type, 'crypto.keys_shredded');
      const fresh = createCrypto(
        { current: crypto.keyring.kek.current, previous: [] },
        pino({ level: 'silent' }),
      );
      for (const c of [crypto, fresh]) {
        await assert.rejects(
          as(a.orgId, async (tx) => {
            const r = await tx.query<Record<string, Buffer>>(
              `select * from ${table} where id = $1`,
              [ids.a[0]!],
            );
            return c.codec.decryptRow(tx, { orgId: a.orgId, table, rowId: ids.a[0]! }, r.rows[0]!, [
              'ssn_encrypted',
            ]);
          }),
          (e) => isWardError(e, 'key_destroyed'),
        );
        await assert.rejects(
          as(a.orgId, (tx) => insertPatient(tx, c.codec, a.orgId, syntheticPatient(1))),
          (e) => isWardError(e, 'key_destroyed'),
        );
        // Derived blind-index keys cached before the shred are gone with the root.
        await assert.rejects(
          as(a.orgId, (tx) =>
            c.codec.blindIndex(tx, a.orgId, patientIndexes.email, 'patient7@example.test'),
          ),
          (e) => isWardError(e, 'key_destroyed'),
        );
      }
      const wrapped = await t.db.asAdmin((tx) =>
        tx.query<{ n: number }>(
          `select count(*)::int as n from ward.encryption_keys where organization_id = $1 and wrapped_key is not null`,
          [a.orgId],
        ),
      );
      assert.equal(wrapped.rows[0]?.n, 0, 'no wrapped key material remains');
      assert.equal((await read(b.orgId, ids.b[9]!)).first_name_encrypted, 'Firstname9');
      await assert.rejects(rotateDataKeys(deps(), a.orgId), (e) => isWardError(e, 'key_destroyed'));
    });

    test('a request cannot create a key version other than its first, nor touch key rows', async () => {
      const denied = async (sql: string, params: unknown[]) =>
        assert.rejects(
          as(b.orgId, (tx) => tx.query(sql, params)),
          (e: unknown) => (e as { code?: string }).code === '42501',
        );
      await denied(
        `insert into ward.encryption_keys (organization_id, version, wrapped_key, kek_id, status) values ($1, 9, $2, 'x', 'decrypt_only')`,
        [b.orgId, Buffer.alloc(40)],
      );
      await denied(
        `update ward.encryption_keys set status = 'retired' where organization_id = $1`,
        [b.orgId],
      );
      await denied(`delete from ward.encryption_keys where organization_id = $1`, [b.orgId]);
      await denied(
        `update ward.blind_index_keys set wrapped_key = null where organization_id = $1`,
        [b.orgId],
      );
    });
  });
}
