import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { base32Decode, totpCode } from '../../src/modules/auth/totp.ts';
import { listTables } from '../../src/platform/db/catalog.ts';
import { qualified } from '../../src/platform/db/sql.ts';
import { availableEngines } from '../helpers/db.ts';
import {
  auth,
  createTestApi,
  enrollTotp,
  seedOrg,
  tokenFor,
  type TestApi,
} from '../helpers/api.ts';
import { seedTenant, type TenantFixture } from '../helpers/fixtures.ts';

// The cross-tenant probe at the HTTP layer. Tenant B has a row in every tenant table; tenant A's
// admin and auditor (with MFA) and doctor call every route of the OpenAPI document with B's ids in
// the path and in request bodies. For each call, B's id must be indistinguishable from an id that
// exists nowhere (same status, same problem code), no list or search may return anything of B,
// and B's rows in every tenant table — its audit chain included — must be byte-for-byte unchanged.

/** The smallest PNG-signed body: enough for the upload route to reach its lookup. */
const pngBytes = Buffer.concat([
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
  Buffer.alloc(56, 7),
]);

interface Operation {
  operationId: string;
  requestBody?: unknown;
}

/** Which table a path's `{id}` names, by the path segment before it. */
const tableOfSegment: Record<string, string> = {
  sessions: 'ward.sessions',
  'api-keys': 'ward.api_keys',
  users: 'ward.users',
  roles: 'ward.roles',
  'access-policies': 'ward.access_policies',
  'review-tasks': 'ward.review_tasks',
  'security-alerts': 'ward.security_alerts',
  grants: 'ward.access_grants',
  events: 'audit.events',
  patients: 'clinical.patients',
  cases: 'clinical.medical_cases',
  diagnoses: 'clinical.diagnoses',
  plans: 'clinical.treatment_plans',
  images: 'clinical.medical_images',
  prescriptions: 'clinical.prescriptions',
};

/** Operations with no tenant-scoped input: nothing of B can be named in them. */
const noTenantInput = new Set([
  'login',
  'verifyMfa',
  'activateAccount',
  'logout',
  'refreshSession',
  'changePassword',
  'startTotpEnrollment',
  'confirmTotpEnrollment',
  'removeTotp',
  'regenerateRecoveryCodes',
  'updateOrganizationSettings',
  'createRole',
  'createAccessPolicy',
  'endBreakGlass',
  'createPatient',
  'createUser',
]);

/** B's ids by table, and values B's rows hold that a search could name. */
interface TenantIds {
  readonly byTable: Record<string, string>;
  readonly all: string[];
  readonly mrn: string;
}

for (const engine of availableEngines()) {
  describe(`HTTP cross-tenant probe (${engine})`, () => {
    let api: TestApi;
    let b: TenantFixture;
    let bIds: TenantIds;
    let tenantTables: string[];
    let callers: { name: string; token: string; purpose: string }[];
    let totpSecret: string;
    let aDoctorId: string;

    before(async () => {
      api = await createTestApi(undefined, engine);
      b = await seedTenant(api.t.db, 'B');
      const a = await seedOrg(api, 'A', ['admin', 'doctor', 'auditor']);
      aDoctorId = a.users['doctor']!.id;
      const admin = await tokenFor(api, a.users['admin']!.email);
      totpSecret = (await enrollTotp(api, admin)).secret;
      // The auditor handles alerts and reads the audit trail, so it uses MFA too.
      const auditor = await tokenFor(api, a.users['auditor']!.email);
      await enrollTotp(api, auditor);
      callers = [
        { name: 'admin', token: admin, purpose: 'HOPERAT' },
        { name: 'doctor', token: await tokenFor(api, a.users['doctor']!.email), purpose: 'TREAT' },
        { name: 'auditor', token: auditor, purpose: 'HOPERAT' },
      ];
      tenantTables = (await api.t.db.asAdmin((tx) => listTables(tx)))
        .filter((x) => !x.isPartition && x.columns.some((c) => c.name === 'organization_id'))
        .map((x) => qualified(x.schema, x.name));
      bIds = await api.t.db.asAdmin(async (tx) => {
        const byTable: Record<string, string> = {};
        const all: string[] = [b.orgId];
        for (const table of new Set(Object.values(tableOfSegment))) {
          const r = await tx.query<{ id: string }>(
            `select id::text as id from ${table} where organization_id = $1 order by id`,
            [b.orgId],
          );
          if (r.rows[0]) byTable[table] = r.rows[0].id;
          all.push(...r.rows.map((x) => x.id));
        }
        const mrn = (
          await tx.query<{ mrn: string }>(
            'select mrn from clinical.patients where organization_id = $1 limit 1',
            [b.orgId],
          )
        ).rows[0]?.mrn;
        return { byTable, all: all.filter((x) => x.length >= 8), mrn: mrn ?? 'none' };
      });
    });
    after(async () => api.close());

    /** A digest of every B row in every tenant table (audit chain included). */
    const snapshotB = () =>
      api.t.db.asAdmin(async (tx) => {
        const out: Record<string, string> = {};
        for (const t of tenantTables) {
          const r = await tx.query<{ d: string | null }>(
            `select md5(string_agg(x::text, '|' order by x::text)) as d from ${t} x where organization_id = $1`,
            [b.orgId],
          );
          out[t] = r.rows[0]?.d ?? '';
        }
        return out;
      });

    const bId = (table: string) => {
      const id = bIds.byTable[table];
      assert.ok(id, `the fixture has no row of tenant B in ${table}`);
      return id;
    };

    /** A valid body for the operation, naming B's records where it names any. */
    const bodyFor = (
      operationId: string,
      ref: (table: string) => string,
      // Enrollment spent the current step's code; the next step's is accepted (and a request
      // that fails rolls its use back, so both probes may present it).
      totpAt: number,
    ): unknown => {
      const later = new Date(Date.now() + 86_400_000).toISOString();
      const bodies: Record<string, unknown> = {
        createApiKey: {
          principalId: ref('ward.users'),
          name: 'probe key',
          scopes: ['patient:read'],
          expiresAt: later,
          totpCode: totpCode(base32Decode(totpSecret), totpAt),
        },
        updateUser: { displayName: 'Probe Renamed' },
        assignRole: { role: 'nurse' },
        removeRole: { role: 'doctor' },
        setRolePermissions: { permissions: ['patient:read'] },
        updateAccessPolicy: { description: 'probe', enabled: false },
        startBreakGlass: {
          reason: 'probe of another tenant patient',
          minutes: 5,
          patientId: ref('clinical.patients'),
        },
        closeReviewTask: { resolution: 'appropriate', notes: 'probe' },
        resolveSecurityAlert: { resolution: 'benign', notes: 'probe' },
        createGrant: {
          granteeOrganizationId: b.orgId,
          patientId: ref('clinical.patients'),
          permissions: ['patient:read'],
          purposes: ['TREAT'],
          validUntil: later,
          justificationType: 'prior_authorization',
          justificationId: randomUUID(),
        },
        updatePatient: { firstName: 'Probe' },
        searchPatients: { mrn: bIds.mrn },
        openCase: { patientId: ref('clinical.patients'), chiefComplaint: 'probe complaint' },
        transitionCase: { status: 'in_review' },
        setCareTeam: { assignedClinicians: [aDoctorId] },
        recordDiagnosis: { icd10Code: 'I10', source: 'clinician' },
        decideDiagnosis: { decision: 'confirm' },
        writePlan: { title: 'Probe plan' },
        transitionPlan: { status: 'cancelled' },
        reviewPlan: {},
        createImage: { modality: 'CT', contentType: 'image/png' },
        uploadImageContent: pngBytes,
        prescribe: {
          medicationId: randomUUID(),
          dose: '10 mg',
          route: 'oral',
          frequency: 'daily',
          startDate: '2026-01-01',
        },
      };
      return bodies[operationId];
    };

    /** The parts of an answer that could tell two ids apart (ids masked, request id dropped). */
    const normalized = (body: string, id: string) => {
      const mask = (x: unknown) => (id && typeof x === 'string' ? x.split(id).join('<id>') : x);
      try {
        const p = JSON.parse(body) as Record<string, unknown>;
        return { status: p['status'], code: p['code'], detail: mask(p['detail']) };
      } catch {
        return { raw: mask(body) };
      }
    };

    test('every route treats B’s ids exactly like ids that exist nowhere, and B is unchanged', async () => {
      await api.app.ready();
      const doc = api.app.swagger() as unknown as {
        paths: Record<string, Record<string, Operation>>;
      };
      const before = await snapshotB();
      const unmapped: string[] = [];
      const notReached: string[] = [];
      const leaks: string[] = [];
      let probed = 0;
      for (const [path, methods] of Object.entries(doc.paths)) {
        if (!path.startsWith('/api/v1/')) continue;
        for (const [method, op] of Object.entries(methods)) {
          const m = method.toUpperCase() as 'GET';
          const param = /\/([a-z-]+)\/\{id\}/.exec(path);
          const table = param ? tableOfSegment[param[1] ?? ''] : undefined;
          if (param && !table) {
            unmapped.push(`${m} ${path}`);
            continue;
          }
          const at = Date.now() + 30_000;
          const body = bodyFor(op.operationId, bId, at);
          if (op.requestBody && body === undefined && !noTenantInput.has(op.operationId)) {
            unmapped.push(`${m} ${path} (no probe body for ${op.operationId})`);
            continue;
          }
          if (!param && (noTenantInput.has(op.operationId) || m !== 'GET') && !body) continue;
          if (noTenantInput.has(op.operationId)) continue;
          // The same request twice: once naming B's records, once naming records that exist
          // nowhere (fresh UUIDs, or an event id past every sequence value).
          const missing = table === 'audit.events' ? '9000000000000' : randomUUID();
          const targets = {
            b: {
              id: table ? bId(table) : '',
              body: body,
            },
            none: {
              id: missing,
              body: bodyFor(op.operationId, () => randomUUID(), at),
            },
          };
          let reached = !param;
          for (const caller of callers) {
            const send = (t: { id: string; body: unknown }) =>
              api.app.inject({
                method: m,
                url: param ? path.replace('{id}', t.id) : path,
                headers: {
                  ...auth(caller.token, caller.purpose),
                  'if-match': '"1"',
                  ...(Buffer.isBuffer(t.body) ? { 'content-type': 'image/png' } : {}),
                },
                ...(t.body !== undefined ? { payload: t.body as Record<string, unknown> } : {}),
              });
            const rb = await send(targets.b);
            const rn = await send(targets.none);
            probed += 1;
            const where = `${caller.name} ${m} ${path}`;
            assert.ok(rb.statusCode < 500, `${where}: ${rb.statusCode} ${rb.body}`);
            if (param || body) {
              assert.equal(rb.statusCode, rn.statusCode, `${where}: ${rb.body} vs ${rn.body}`);
              assert.deepEqual(
                normalized(rb.body, targets.b.id),
                normalized(rn.body, targets.none.id),
                where,
              );
              if (![400, 401, 403, 428].includes(rb.statusCode)) reached = true;
            }
            for (const id of bIds.all) {
              if (rb.body.includes(id) && id !== targets.b.id)
                leaks.push(`${where} returned ${id}`);
            }
            if (rb.statusCode < 300 && param) leaks.push(`${where} succeeded on B's id`);
          }
          if (!reached) notReached.push(`${m} ${path}`);
        }
      }
      assert.deepEqual(unmapped, [], 'map these routes in the HTTP cross-tenant probe');
      assert.deepEqual(leaks, []);
      assert.deepEqual(notReached, [], 'no caller got past validation and permission checks');
      assert.ok(probed > 60, `only ${probed} probes`);
      assert.deepEqual(await snapshotB(), before, "tenant B's rows changed");
    });

    test('lists and audit filters never return anything of B', async () => {
      const urls = [
        `/api/v1/audit/events?patientId=${bId('clinical.patients')}`,
        `/api/v1/audit/events?actorId=${b.doctorId}`,
        `/api/v1/audit/events?entityId=${bId('clinical.patients')}`,
      ];
      const bEvents = new Set(
        await api.t.db.asAdmin(async (tx) =>
          (
            await tx.query<{ id: number }>(
              'select id::int as id from audit.events where organization_id = $1',
              [b.orgId],
            )
          ).rows.map((x) => x.id),
        ),
      );
      assert.ok(bEvents.size > 0);
      for (const caller of callers) {
        for (const url of urls) {
          const r = await api.app.inject({ url, headers: auth(caller.token, caller.purpose) });
          assert.ok(r.statusCode < 500, `${url}: ${r.body}`);
          if (r.statusCode === 200) {
            // The search is itself audited in A's chain (naming the id A typed); nothing else.
            const items = r.json<{ items: { id: number; eventType: string }[] }>().items;
            const foreign = items.filter(
              (e) => bEvents.has(e.id) || e.eventType !== 'audit.search',
            );
            assert.deepEqual(foreign, [], `${caller.name} ${url}`);
          }
        }
      }
    });
  });
}
