import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyPluginAsync } from 'fastify';
import { securedRoute, type SecuredDeps } from '../../src/modules/access/secured-route.ts';
import type { Driver, Tx } from '../../src/platform/db/types.ts';
import { object } from '../../src/platform/http/schemas.ts';
import {
  auth,
  countEvents,
  createTestApi,
  seedOrg,
  tokenFor,
  type TestApi,
} from '../helpers/api.ts';
import { availableEngines } from '../helpers/db.ts';

// Pins what one secured request costs the database: its transactions, how each opens, the
// statements each sends after the opening, and whether the last one carries the COMMIT. A
// token's first request authenticates in an awaited opening (ward.authenticate_session); later
// ones confirm the known principal in an opening pipelined with the first statement
// (ward.confirm_session). On PostgreSQL the round trips of a transaction are then the
// statements (+ 1 COMMIT when no statement carried it), plus 1 for an awaited opening. Also: the
// audit insert that carries the COMMIT still fails the request.

interface TxLog {
  /** `authenticate` (awaited), `confirm` (pipelined) or `context`. */
  opening: string;
  /** Each statement's first three words, e.g. `insert into audit.events`. */
  statements: string[];
  committedWithLast: boolean;
  /**
   * Round trips after the opening: a statement sent while none of the transaction's earlier
   * statements is still unanswered starts a new one; one sent behind unanswered ones rides
   * with them (pipelined).
   */
  roundTrips: number;
}

const label = (text: string) => text.trim().split(/\s+/).slice(0, 3).join(' ').toLowerCase();

/** Wraps the driver so every transaction records its statements. */
function countStatements(driver: Driver): TxLog[] {
  const log: TxLog[] = [];
  const original = driver.transaction.bind(driver);
  driver.transaction = (fn, prelude, opts) =>
    original(
      (tx, rows) => {
        const text =
          typeof prelude === 'string' ? prelude : (prelude ?? []).map((p) => p.text).join(' ');
        const opening = text.includes('ward.refuse_principal')
          ? 'confirm'
          : text.includes('ward.authenticate_')
            ? 'authenticate'
            : 'context';
        if (opening === 'authenticate') assert.equal(opts?.preludeRows, true);
        if (opening === 'confirm')
          assert.notEqual(opts?.preludeRows, true, 'a confirmation is not awaited');
        const entry: TxLog = { opening, statements: [], committedWithLast: false, roundTrips: 0 };
        log.push(entry);
        let unanswered = 0;
        const sent = <T>(text: string, answer: Promise<T>): Promise<T> => {
          entry.statements.push(label(text));
          if (unanswered === 0) entry.roundTrips++;
          unanswered++;
          const settled = () => {
            unanswered--;
          };
          answer.then(settled, settled);
          return answer;
        };
        const counted: Tx = {
          engine: tx.engine,
          query: (text, params) => sent(text, tx.query(text, params)),
          exec: (script) => sent(script, tx.exec(script)),
          queryAndCommit: (text, params) => {
            entry.committedWithLast = true;
            return sent(text, tx.queryAndCommit(text, params));
          },
        };
        return fn(counted, rows);
      },
      prelude,
      opts,
    );
  return log;
}

/** A PHI route that renames the organization, then audits with the event type it is given. */
function renameAndAudit(deps: SecuredDeps): FastifyPluginAsync {
  return (app) => {
    securedRoute<{ name: string; eventType: string }>(app, deps, {
      method: 'POST',
      url: '/test/rename-audited',
      permission: 'patient:create',
      phi: true,
      schema: {
        body: object({ name: { type: 'string' }, eventType: { type: 'string' } }),
        response: { 200: object({ ok: { type: 'boolean' } }) },
      },
      handler: async ({ tx, principal, body, audit }) => {
        await tx.query('update ward.organizations set name = $2 where id = $1', [
          principal.orgId,
          body.name,
        ]);
        await audit({ action: 'U', eventType: body.eventType });
        return { ok: true };
      },
    });
    return Promise.resolve();
  };
}

/**
 * A PHI route whose last statement commits: it records an event of the given type (unless told
 * not to), then renames the organization with `queryAndCommit`.
 */
function auditThenCommit(deps: SecuredDeps): FastifyPluginAsync {
  return (app) => {
    securedRoute<{ name: string; eventType?: string }>(app, deps, {
      method: 'POST',
      url: '/test/audit-then-commit',
      permission: 'patient:create',
      phi: true,
      schema: {
        body: object({ name: { type: 'string' }, eventType: { type: 'string' } }, ['name']),
        response: { 200: object({ ok: { type: 'boolean' } }) },
      },
      handler: async ({ tx, principal, body, audit }) => {
        if (body.eventType) await audit({ action: 'U', eventType: body.eventType });
        await tx.queryAndCommit('update ward.organizations set name = $2 where id = $1', [
          principal.orgId,
          body.name,
        ]);
        return { ok: true };
      },
    });
    return Promise.resolve();
  };
}

/**
 * Routes that misuse a handler-level commit: one with statements after its handler (an
 * idempotent create) and one that records an event after committing.
 */
function misusedCommit(deps: SecuredDeps): FastifyPluginAsync {
  return (app) => {
    const rename = (tx: Tx, orgId: string, name: string) =>
      tx.queryAndCommit('update ward.organizations set name = $2 where id = $1', [orgId, name]);
    securedRoute<{ name: string }, unknown, unknown, { id: string }>(app, deps, {
      method: 'POST',
      url: '/test/idempotent-commit',
      permission: 'patient:create',
      phi: true,
      idempotent: { idOf: (r) => r.id, replay: () => Promise.resolve({ id: 'replayed' }) },
      schema: {
        body: object({ name: { type: 'string' } }),
        response: { 200: object({ id: { type: 'string' } }) },
      },
      handler: async ({ tx, principal, body, audit }) => {
        await audit({ action: 'U', eventType: 'test.committed' });
        await rename(tx, principal.orgId, body.name);
        return { id: principal.orgId };
      },
    });
    securedRoute<{ name: string }>(app, deps, {
      method: 'POST',
      url: '/test/audit-after-commit',
      permission: 'patient:create',
      phi: true,
      schema: {
        body: object({ name: { type: 'string' } }),
        response: { 200: object({ ok: { type: 'boolean' } }) },
      },
      handler: async ({ tx, principal, body, audit }) => {
        await audit({ action: 'U', eventType: 'test.committed' });
        await rename(tx, principal.orgId, body.name);
        await audit({ action: 'U', eventType: 'test.after_commit' });
        return { ok: true };
      },
    });
    return Promise.resolve();
  };
}

const patient = {
  mrn: 'MRN-RT-0001',
  firstName: 'Robin',
  lastName: 'Synthetic',
  dateOfBirth: '1990-05-17',
  ssn: '900-55-0001',
};

for (const engine of availableEngines()) {
  describe(`statements per secured request (${engine})`, () => {
    let api: TestApi;
    let doctor: string;
    let orgId: string;
    let log: TxLog[];
    before(async () => {
      api = await createTestApi(
        (deps) => [renameAndAudit(deps), auditThenCommit(deps), misusedCommit(deps)],
        engine,
      );
      const org = await seedOrg(api, 'Trips', ['doctor']);
      orgId = org.orgId;
      doctor = await tokenFor(api, org.users['doctor']!.email);
      log = countStatements(api.t.db.driver);
    });
    after(() => api.close());

    const measured = async (fn: () => Promise<{ statusCode: number }>, status: number) => {
      log.length = 0;
      const r = await fn();
      assert.equal(r.statusCode, status);
      return [...log];
    };

    test('create patient: one transaction, audit insert + insert carrying the COMMIT', async () => {
      let n = 0;
      const create = () =>
        api.app.inject({
          method: 'POST',
          url: '/api/v1/patients',
          headers: auth(doctor, 'TREAT'),
          payload: { ...patient, mrn: `${patient.mrn}-${++n}` },
        });
      // The first create makes the organization's data key, the second caches it.
      const first = await measured(create, 201);
      assert.equal(
        first[0]?.opening,
        'authenticate',
        "a token's first request authenticates in full",
      );
      await measured(create, 201);
      const txs = await measured(create, 201);
      assert.deepEqual(txs, [
        {
          opening: 'confirm',
          statements: ['insert into audit.events', 'insert into clinical.patients'],
          committedWithLast: true,
          // On PostgreSQL the opening, the event, the insert and its COMMIT are one round trip;
          // the embedded engine runs one statement at a time.
          roundTrips: engine === 'postgres' ? 1 : 2,
        },
      ]);
    });

    test('a create that the database refuses keeps neither the patient nor its event', async () => {
      const create = () =>
        api.app.inject({
          method: 'POST',
          url: '/api/v1/patients',
          headers: auth(doctor, 'TREAT'),
          payload: { ...patient, mrn: 'MRN-RT-TWICE' },
        });
      const failures = async () =>
        (await countEvents(api, 'http.denied')) + (await countEvents(api, 'http.failed'));
      const patients = async () =>
        (
          await api.t.db.asAdmin((tx) =>
            tx.query<{ n: number }>(
              "select count(*)::int as n from clinical.patients where mrn = 'MRN-RT-TWICE'",
            ),
          )
        ).rows[0]?.n;
      assert.equal((await create()).statusCode, 201);
      const created = await countEvents(api, 'patient.create');
      const failedBefore = await failures();
      // The same MRN again: the insert fails behind its already-sent event, and both roll back.
      const again = await create();
      assert.equal(again.statusCode, 409, again.body);
      assert.doesNotMatch(again.body, /MRN-RT-TWICE/);
      assert.equal(await patients(), 1);
      assert.equal(await countEvents(api, 'patient.create'), created);
      assert.equal(await failures(), failedBefore + 1, 'the failure is on record');
    });

    test('a request refused before its handler authenticates once, on its own, and runs nothing', async () => {
      // Authentication comes before validation (authenticate-first.ts): a body the schema
      // refuses is held until the token is authenticated, in one transaction that runs no
      // statement of the route; the refusal's own record is the PHI guard's (a context one).
      const refused = (token: string) => () =>
        api.app.inject({
          method: 'POST',
          url: '/api/v1/patients',
          headers: { ...auth(token, 'TREAT'), 'content-type': 'application/json' },
          payload: '[]',
        });
      for (const [token, status] of [
        [doctor, 400],
        [`${doctor.slice(0, -4)}AAAA`, 401],
      ] as const) {
        const txs = await measured(refused(token), status);
        const auths = txs.filter((t) => t.opening !== 'context');
        assert.deepEqual(
          auths.map((t) => [t.opening, t.statements]),
          [['authenticate', []]],
          JSON.stringify(txs),
        );
      }
    });

    test('read patient: one transaction, select + audit insert carrying the COMMIT', async () => {
      const created = await api.app.inject({
        method: 'POST',
        url: '/api/v1/patients',
        headers: auth(doctor, 'TREAT'),
        payload: { ...patient, mrn: 'MRN-RT-READ' },
      });
      const id = created.json<{ id: string }>().id;
      const read = () =>
        api.app.inject({ url: `/api/v1/patients/${id}`, headers: auth(doctor, 'TREAT') });
      const before = await countEvents(api, 'patient.read');
      const txs = await measured(read, 200);
      assert.deepEqual(txs, [
        {
          opening: 'confirm',
          statements: ['select id, organization_id,', 'insert into audit.events'],
          committedWithLast: true,
          // The event needs what the select found (or did not find).
          roundTrips: 2,
        },
      ]);
      assert.equal(await countEvents(api, 'patient.read'), before + 1);
    });

    test('a handler that ends with queryAndCommit: its event rides in front, and is required', async () => {
      const commitRename = (payload: { name: string; eventType?: string }, status = 200) =>
        measured(
          () =>
            api.app.inject({
              method: 'POST',
              url: '/api/v1/test/audit-then-commit',
              headers: auth(doctor, 'TREAT'),
              payload,
            }),
          status,
        );
      const nameNow = async () =>
        (
          await api.t.db.asAdmin((tx) =>
            tx.query<{ name: string }>('select name from ward.organizations where id = $1', [
              orgId,
            ]),
          )
        ).rows[0]?.name;
      // The first request after the earlier tests' writes may reload the policy cache.
      await commitRename({ name: 'Warming up', eventType: 'test.committed' });
      const ok = await commitRename({
        name: 'Committed with its event',
        eventType: 'test.committed',
      });
      assert.deepEqual(ok[0]?.statements, [
        'insert into audit.events',
        'update ward.organizations set',
      ]);
      assert.equal(ok[0]?.committedWithLast, true);
      assert.equal(ok[0]?.roundTrips, engine === 'postgres' ? 1 : 2);
      assert.equal(await nameNow(), 'Committed with its event');
      assert.equal(await countEvents(api, 'test.committed'), 2);

      // An event the database refuses: the statement behind it fails and nothing commits.
      // (The check violation is reported as a client error, without the offending value.)
      const refused = await commitRename(
        { name: 'Renamed, event refused', eventType: 'NotAnEventType' },
        400,
      );
      // PostgreSQL received the update behind the event (and rolled both back); the embedded
      // engine, which awaits each statement, never sent it.
      assert.deepEqual(
        refused[0]?.statements,
        engine === 'postgres'
          ? ['insert into audit.events', 'update ward.organizations set']
          : ['insert into audit.events'],
      );
      assert.equal(await nameNow(), 'Committed with its event');
      assert.equal(await countEvents(api, 'NotAnEventType'), 0);

      // No event at all on a PHI route: refused before the statement is sent.
      const unaudited = await commitRename({ name: 'Renamed without an event' }, 500);
      assert.deepEqual(unaudited[0]?.statements, []);
      assert.equal(await nameNow(), 'Committed with its event');
    });

    test('a handler-level commit is refused where statements follow it, and audit() after it', async () => {
      const nameNow = async () =>
        (
          await api.t.db.asAdmin((tx) =>
            tx.query<{ name: string }>('select name from ward.organizations where id = $1', [
              orgId,
            ]),
          )
        ).rows[0]?.name;
      const before = await nameNow();
      const post = (url: string, name: string) =>
        api.app.inject({
          method: 'POST',
          url: `/api/v1${url}`,
          headers: auth(doctor, 'TREAT'),
          payload: { name },
        });
      // The idempotent route still has its key to record after the handler: refused, and
      // nothing was sent, so nothing changed.
      const idem = await post('/test/idempotent-commit', 'Committed too early');
      assert.equal(idem.statusCode, 500, idem.body);
      assert.equal(await nameNow(), before);
      // Recording after the commit is refused (the request fails; the commit has happened).
      const late = await post('/test/audit-after-commit', 'Committed, then audited late');
      assert.equal(late.statusCode, 500, late.body);
      assert.equal(await countEvents(api, 'test.after_commit'), 0);
    });

    test('an audit insert refused at commit fails the request and keeps nothing', async () => {
      const rename = (name: string, eventType: string) =>
        api.app.inject({
          method: 'POST',
          url: '/api/v1/test/rename-audited',
          headers: auth(doctor, 'TREAT'),
          payload: { name, eventType },
        });
      const nameNow = async () =>
        (
          await api.t.db.asAdmin((tx) =>
            tx.query<{ name: string }>('select name from ward.organizations where id = $1', [
              orgId,
            ]),
          )
        ).rows[0]?.name;
      // Control: with an acceptable event the rename commits together with its event.
      const ok = await rename('Renamed and audited', 'test.renamed');
      assert.equal(ok.statusCode, 200);
      assert.equal(await nameNow(), 'Renamed and audited');
      assert.equal(await countEvents(api, 'test.renamed'), 1);
      // The event type violates audit.events' check: only the database refuses it, at commit.
      const failures = async () =>
        (await countEvents(api, 'http.denied')) + (await countEvents(api, 'http.failed'));
      const failedBefore = await failures();
      const r = await rename('Renamed without an event', 'NotAnEventType');
      assert.ok(r.statusCode >= 400, `expected a failure, got ${r.statusCode}`);
      assert.doesNotMatch(r.body, /NotAnEventType|violates|Renamed/);
      assert.equal(await nameNow(), 'Renamed and audited');
      assert.equal(await countEvents(api, 'NotAnEventType'), 0);
      // The failure itself is on record, written in its own transaction.
      assert.equal(await failures(), failedBefore + 1);
    });
  });
}
