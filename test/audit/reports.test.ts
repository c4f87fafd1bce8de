import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { createGrant } from '../../src/modules/access/grants-service.ts';
import { availableEngines } from '../helpers/db.ts';
import { grantManager } from '../helpers/principal.ts';
import { lastJson, runCli } from '../helpers/cli.ts';
import { testMasterKeyBase64 } from '../helpers/crypto.ts';
import {
  auth,
  createPatientAs,
  createTestApi,
  enrollTotp,
  seedOrg,
  tokenFor,
  type TestApi,
} from '../helpers/api.ts';

// The privacy officer's reports, end to end: a clinic's patient is read, listed among others,
// searched for, refused to a snooping role, disclosed to another organization for payment and
// for public health, and opened under break-glass; the reports must show each of those, name
// who did it, leave out of the accounting what HIPAA leaves out, and never reach another tenant.

interface AccessItem {
  eventType: string;
  actorEmail: string | null;
  purposeOfUse: string | null;
  outcome: string;
  outcomeReason: string | null;
  recipientOrganizationId: string | null;
  recipientOrganizationName: string | null;
  phiFields: string[];
}
interface Page<S, I> {
  organizationId: string;
  period: { from: string; to: string };
  summary: S;
  items: I[];
  nextCursor: string | null;
}

for (const engine of availableEngines()) {
  describe(`privacy reports (${engine})`, () => {
    let api: TestApi;
    let clinic: Awaited<ReturnType<typeof seedOrg>>;
    let insurer: Awaited<ReturnType<typeof seedOrg>>;
    let other: Awaited<ReturnType<typeof seedOrg>>;
    const t: Record<string, string> = {};
    let x: string;
    let y: string;

    const get = (token: string, url: string, purpose?: string) =>
      api.app.inject({ url: `/api/v1${url}`, headers: auth(token, purpose) });
    const post = (token: string, url: string, payload: object, purpose?: string) =>
      api.app.inject({
        method: 'POST',
        url: `/api/v1${url}`,
        headers: auth(token, purpose),
        payload: payload as Record<string, unknown>,
      });

    before(async () => {
      api = await createTestApi(undefined, engine);
      clinic = await seedOrg(api, 'Clinic', ['doctor', 'nurse', 'auditor']);
      insurer = await seedOrg(api, 'Insurer', ['admin', 'reviewer']);
      other = await seedOrg(api, 'Other', ['auditor']);
      for (const role of ['doctor', 'nurse', 'auditor'])
        t[role] = await tokenFor(api, clinic.users[role]!.email);
      t['insurerReviewer'] = await tokenFor(api, insurer.users['reviewer']!.email);
      t['insurerAdmin'] = await tokenFor(api, insurer.users['admin']!.email);
      t['otherAuditor'] = await tokenFor(api, other.users['auditor']!.email);
      await enrollTotp(api, t['insurerAdmin']);
      // Auditors read the audit trail in bulk, so they use MFA (like administrators).
      await enrollTotp(api, t['auditor']!);
      await enrollTotp(api, t['otherAuditor']);

      x = await createPatientAs(api, t['doctor']!, 'MRN-RPT-X');
      y = await createPatientAs(api, t['doctor']!, 'MRN-RPT-Y');
      // A read of x, a list and a search that disclose x among others, a refused attempt.
      assert.equal((await get(t['doctor']!, `/patients/${x}`, 'TREAT')).statusCode, 200);
      assert.equal((await get(t['nurse']!, '/patients?limit=50', 'TREAT')).statusCode, 200);
      const found = await post(
        t['nurse']!,
        '/patients/search',
        { lastName: 'Synthetic', dateOfBirth: '1970-01-01' },
        'TREAT',
      );
      assert.equal(found.json<{ items: unknown[] }>().items.length, 2, found.body);
      assert.equal((await get(t['auditor']!, `/patients/${x}`, 'TREAT')).statusCode, 403);

      // Disclosures to the insurer: one for payment (left out of an accounting), one for
      // public health (listed). The insurer's own policy lets its reviewer read for PUBHLTH.
      await api.t.db.withContext({ orgId: clinic.orgId, actorType: 'user' }, (tx) =>
        createGrant(tx, grantManager(clinic.orgId), {
          granteeOrganizationId: insurer.orgId,
          patientId: x,
          permissions: ['patient:read'],
          purposes: ['HPAYMT', 'PUBHLTH'],
          fields: ['firstName', 'lastName', 'dateOfBirth'],
          validUntil: new Date(Date.now() + 3_600_000).toISOString(),
          justificationType: 'prior_authorization',
          justificationId: randomUUID(),
        }),
      );
      const policy = await post(t['insurerAdmin'], '/access-policies', {
        name: 'public-health-reads',
        document: {
          effect: 'allow',
          actions: ['patient:read'],
          purposes: ['PUBHLTH'],
          fields: ['firstName', 'lastName', 'dateOfBirth'],
        },
      });
      assert.equal(policy.statusCode, 201, policy.body);
      for (const purpose of ['HPAYMT', 'PUBHLTH']) {
        const r = await get(t['insurerReviewer'], `/patients/${x}`, purpose);
        assert.equal(r.statusCode, 200, `${purpose}: ${r.body}`);
      }

      // Break-glass on x: one read of x, one refused read of y.
      const bg = await post(t['doctor']!, '/access/break-glass', {
        reason: 'Unresponsive on arrival, allergy history needed',
        minutes: 5,
        patientId: x,
      });
      assert.equal(bg.statusCode, 201, bg.body);
      assert.equal((await get(t['doctor']!, `/patients/${x}`, 'ETREAT')).statusCode, 200);
      assert.equal((await get(t['doctor']!, `/patients/${y}`, 'ETREAT')).statusCode, 403);
    });
    after(async () => api.close());

    test("a patient's access report shows every kind of access, with who and why", async () => {
      const r = await get(t['auditor']!, `/reports/patients/${x}/access?limit=200`);
      assert.equal(r.statusCode, 200, r.body);
      const body = r.json<Page<Record<string, number>, AccessItem>>();
      assert.equal(body.organizationId, clinic.orgId);
      const types = body.items.map((i) => i.eventType);
      for (const expected of [
        'patient.create',
        'patient.read',
        'patient.list',
        'patient.search',
        'access.denied',
        'patient.disclosure',
        'access.break_glass.start',
      ])
        assert.ok(types.includes(expected), `${expected} in ${types.join(', ')}`);
      const byType = (type: string) => body.items.filter((i) => i.eventType === type);
      assert.equal(byType('patient.list')[0]?.actorEmail, clinic.users['nurse']!.email);
      assert.equal(byType('access.denied')[0]?.actorEmail, clinic.users['auditor']!.email);
      assert.equal(byType('access.denied')[0]?.outcome, '4');
      // The grantee's user is never looked up in the clinic: the recipient names it.
      const disclosures = byType('patient.disclosure');
      assert.equal(disclosures.length, 2);
      for (const d of disclosures) {
        assert.equal(d.actorEmail, null);
        assert.equal(d.recipientOrganizationId, insurer.orgId);
        assert.equal(d.recipientOrganizationName, 'Org Insurer');
        assert.deepEqual([...d.phiFields].sort(), ['dateOfBirth', 'firstName', 'lastName']);
      }
      assert.ok(
        byType('patient.read').some((i) => i.purposeOfUse === 'ETREAT'),
        'the emergency read',
      );
      // y's refused emergency read is y's, not x's.
      assert.equal(
        body.items.filter((i) => i.eventType === 'access.denied').length,
        1,
        'only the denial that named x',
      );
      const s = body.summary;
      assert.equal(s['events'], body.items.length);
      assert.equal(s['disclosures'], 2);
      assert.equal(s['refused'], 1);
      // Reading the report is itself on the patient's record.
      const again = await get(t['auditor']!, `/reports/patients/${x}/access?limit=200`);
      assert.ok(
        again
          .json<Page<unknown, AccessItem>>()
          .items.some((i) => i.eventType === 'report.patient_access'),
      );
    });

    test("a list or search that disclosed the patient is in the patient's audit trail too", async () => {
      const r = await get(t['auditor']!, `/audit/events?patientId=${x.toUpperCase()}&limit=200`);
      assert.equal(r.statusCode, 200, r.body);
      const types = r.json<{ items: { eventType: string }[] }>().items.map((i) => i.eventType);
      assert.ok(types.includes('patient.list'), types.join(', '));
      assert.ok(types.includes('patient.search'), types.join(', '));
    });

    test('the report pages without gaps or repeats, and refuses a forged or foreign cursor', async () => {
      const all = (await get(t['auditor']!, `/reports/patients/${x}/access?limit=200`)).json<
        Page<unknown, { eventId?: number } & AccessItem>
      >().items;
      const seen: unknown[] = [];
      let cursor: string | null = null;
      do {
        const page: Page<unknown, AccessItem> = (
          await get(
            t['auditor']!,
            `/reports/patients/${x}/access?limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
          )
        ).json();
        seen.push(...page.items.map((i) => (i as { eventId?: number }).eventId));
        cursor = page.nextCursor;
      } while (cursor);
      // Each page's read is recorded as it goes, so later pages may hold more than `all` did.
      const ids = all.map((i) => i.eventId);
      assert.deepEqual(seen.slice(0, ids.length), ids);
      assert.equal(new Set(seen).size, seen.length);
      const first = (await get(t['auditor']!, `/reports/patients/${x}/access?limit=1`)).json<
        Page<unknown, unknown>
      >();
      const forged = `${first.nextCursor!.slice(0, -2)}AA`;
      const bad = await get(t['auditor']!, `/reports/patients/${x}/access?cursor=${forged}`);
      assert.equal(bad.json<{ code: string }>().code, 'invalid_cursor');
      const foreign = await get(
        t['auditor']!,
        `/reports/patients/${x}/disclosures?allPurposes=true&cursor=${encodeURIComponent(first.nextCursor!)}`,
      );
      assert.equal(foreign.json<{ code: string }>().code, 'invalid_cursor');
    });

    test('the accounting of disclosures lists public health and leaves out payment, unless asked', async () => {
      const r = await get(t['auditor']!, `/reports/patients/${x}/disclosures`);
      assert.equal(r.statusCode, 200, r.body);
      const body =
        r.json<
          Page<
            { listed: number; recipients: number; omittedByPurpose: Record<string, number> },
            { purposeOfUse: string; recipientOrganizationName: string }
          >
        >();
      assert.deepEqual(
        body.items.map((i) => [i.purposeOfUse, i.recipientOrganizationName]),
        [['PUBHLTH', 'Org Insurer']],
      );
      assert.deepEqual(body.summary, { listed: 1, recipients: 1, omittedByPurpose: { HPAYMT: 1 } });
      // Six years back by default (45 CFR 164.528(a)(3)).
      const years =
        (Date.parse(body.period.to) - Date.parse(body.period.from)) / (365.25 * 86_400_000);
      assert.ok(years > 5.99 && years < 6.01, String(years));
      const all = await get(t['auditor']!, `/reports/patients/${x}/disclosures?allPurposes=true`);
      assert.deepEqual(
        all
          .json<Page<unknown, { purposeOfUse: string }>>()
          .items.map((i) => i.purposeOfUse)
          .sort(),
        ['HPAYMT', 'PUBHLTH'],
      );
      assert.equal(
        (await get(t['auditor']!, `/reports/patients/${y}/disclosures`)).json<
          Page<unknown, unknown>
        >().items.length,
        0,
      );
    });

    test('the break-glass report shows the session, what it opened and refused, and its open review', async () => {
      const r = await get(t['auditor']!, '/reports/break-glass');
      assert.equal(r.statusCode, 200, r.body);
      const body = r.json<
        Page<
          { sessions: number; unreviewed: number },
          {
            userEmail: string;
            patientId: string;
            accesses: number;
            refused: number;
            patientsTouched: number;
            reviewStatus: string;
            alertStatus: string;
          }
        >
      >();
      assert.deepEqual(body.summary, { sessions: 1, unreviewed: 1, users: 1, patients: 1 });
      const [s] = body.items;
      assert.equal(s?.userEmail, clinic.users['doctor']!.email);
      assert.equal(s?.patientId, x);
      assert.equal(s?.accesses, 1);
      assert.equal(s?.refused, 1);
      assert.equal(s?.patientsTouched, 1);
      assert.equal(s?.reviewStatus, 'open');
      assert.equal(s?.alertStatus, 'open');
      const filtered = await get(
        t['auditor']!,
        `/reports/break-glass?userId=${clinic.users['nurse']!.id}&unreviewed=true`,
      );
      assert.equal(filtered.json<Page<{ sessions: number }, unknown>>().summary.sessions, 0);
    });

    test("a user's activity report counts its events and the patients it touched", async () => {
      const r = await get(t['auditor']!, `/reports/users/${clinic.users['nurse']!.id}/activity`);
      assert.equal(r.statusCode, 200, r.body);
      const body =
        r.json<
          Page<
            { patients: number; byEventType: Record<string, number> },
            { patientId: string; events: number }
          >
        >();
      assert.equal(body.summary.byEventType['patient.list'], 1);
      assert.equal(body.summary.byEventType['patient.search'], 1);
      // The list and the search each showed both patients: both count, twice each.
      assert.equal(body.summary.patients, 2);
      assert.deepEqual(
        body.items.map((i) => [i.patientId, i.events]).sort(),
        [
          [x, 2],
          [y, 2],
        ].sort(),
      );
      const doctor = await get(
        t['auditor']!,
        `/reports/users/${clinic.users['doctor']!.id}/activity`,
      );
      const rows = doctor.json<Page<unknown, { patientId: string; events: number }>>().items;
      assert.deepEqual(
        rows.map((i) => i.patientId).sort(),
        [x, y].sort(),
        'the doctor created both and read x',
      );
      assert.ok(
        (rows.find((i) => i.patientId === x)?.events ?? 0) >
          (rows.find((i) => i.patientId === y)?.events ?? 0),
      );
    });

    test('reports stay in their organization and behind audit:read', async () => {
      const random = randomUUID();
      const shape = (b: string) => {
        const { status, code } = JSON.parse(b) as Record<string, unknown>;
        return { status, code };
      };
      for (const url of [
        `/reports/patients/ID/access`,
        `/reports/patients/ID/disclosures`,
        `/reports/break-glass?patientId=ID`,
      ]) {
        const foreign = await get(t['otherAuditor']!, url.replace('ID', x));
        const missing = await get(t['otherAuditor']!, url.replace('ID', random));
        assert.equal(foreign.statusCode, 404, `${url}: ${foreign.body}`);
        assert.deepEqual(shape(foreign.body), shape(missing.body));
      }
      const foreignUser = await get(
        t['otherAuditor']!,
        `/reports/users/${clinic.users['nurse']!.id}/activity`,
      );
      assert.equal(foreignUser.statusCode, 404);
      // A clinician may not read the audit trail; the refusal names the patient it was about,
      // and only a patient of the organization (an id of nobody is not written down as one).
      assert.equal((await get(t['nurse']!, `/reports/patients/${random}/access`)).statusCode, 403);
      const denied = await get(t['nurse']!, `/reports/patients/${x}/access`);
      assert.equal(denied.statusCode, 403);
      const ev = await api.t.db.asAdmin((tx) =>
        tx.query<{ patient_id: string }>(
          `select patient_id from audit.events where event_type = 'access.denied'
            and actor_id = $1 and metadata ->> 'route' = '/reports/patients/:id/access'
          order by id`,
          [clinic.users['nurse']!.id],
        ),
      );
      assert.deepEqual(
        ev.rows.map((e) => e.patient_id),
        [null, x],
      );
    });

    test('bad ranges are refused with a clear error and change nothing', async () => {
      for (const q of [
        'from=2026-02-01&to=2026-01-01',
        'from=yesterday',
        'to=01/02/2026',
        'from=2001-01-01&to=2026-01-01',
      ]) {
        const r = await get(t['auditor']!, `/reports/patients/${x}/access?${q}`);
        assert.equal(r.statusCode, 400, `${q}: ${r.body}`);
        assert.equal(r.json<{ code: string }>().code, 'validation_failed');
      }
    });

    if (engine === 'postgres') {
      test('ward report prints the same reports for an operator, audited as a system job', async () => {
        const env = {
          DATABASE_URL: api.t.url,
          WARD_MASTER_KEY: testMasterKeyBase64,
          WARD_LOG_LEVEL: 'silent',
        };
        const json = await runCli(
          ['report', 'disclosures', '--org', clinic.orgId, '--patient', x, '--json'],
          env,
        );
        assert.equal(json.code, 0, json.stderr);
        const doc = lastJson<{ summary: { listed: number }; items: { purposeOfUse: string }[] }>(
          json,
        );
        assert.deepEqual(
          doc.items.map((i) => i.purposeOfUse),
          ['PUBHLTH'],
        );
        const csv = await runCli(
          ['report', 'access', '--org', clinic.orgId, '--patient', x, '--format', 'csv'],
          env,
        );
        assert.equal(csv.code, 0, csv.stderr);
        const lines = csv.stdout.trim().split('\r\n');
        assert.match(lines[0] ?? '', /^eventId,occurredAt,actorType/);
        assert.ok(lines.some((l) => l.includes('patient.disclosure')));
        const table = await runCli(
          ['report', 'break-glass', '--org', clinic.orgId, '--unreviewed'],
          env,
        );
        assert.equal(table.code, 0, table.stderr);
        assert.match(
          table.stdout,
          /1 session\(s\) by 1 user\(s\) on 1 patient\(s\); 1 not yet reviewed/,
        );
        assert.match(
          table.stdout,
          new RegExp(clinic.users['doctor']!.email.replaceAll('.', '\\.')),
        );
        const activity = await runCli(
          ['report', 'user-activity', '--org', clinic.orgId, '--user', clinic.users['nurse']!.id],
          env,
        );
        assert.equal(activity.code, 0, activity.stderr);
        // Refusals: a missing option, an unknown organization, a bad range.
        const missing = await runCli(['report', 'access', '--org', clinic.orgId], env);
        assert.notEqual(missing.code, 0);
        assert.match(missing.stderr, /--patient must be a UUID/);
        const unknown = await runCli(
          ['report', 'access', '--org', randomUUID(), '--patient', x, '--json'],
          env,
        );
        assert.notEqual(unknown.code, 0);
        const inverted = await runCli(
          [
            'report',
            'access',
            '--org',
            clinic.orgId,
            '--patient',
            x,
            '--from',
            '2026-02-01',
            '--to',
            '2026-01-01',
          ],
          env,
        );
        assert.notEqual(inverted.code, 0);
        assert.match(inverted.stderr, /--from must not be later than to/);
        // Each successful run is an audited system access, and names the patient it reported on.
        const recorded = await api.t.db.asAdmin((tx) =>
          tx.query<{ event_type: string; actor_type: string; patient_id: string | null }>(
            `select event_type, actor_type, patient_id from audit.events
              where organization_id = $1 and event_type in ('report.disclosures', 'report.patient_access')
                and actor_type = 'system' order by id`,
            [clinic.orgId],
          ),
        );
        assert.deepEqual(
          recorded.rows.map((r) => [r.event_type, r.patient_id]),
          [
            ['report.disclosures', x],
            ['report.patient_access', x],
          ],
        );
      });
    }
  });
}
