import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { compilePolicy, evaluate, type CompiledPolicy } from './evaluator.ts';
import { validatePolicyDocument } from './policy-document.ts';
import { defaultSettings, type Principal } from './principal.ts';
import { purposeCodes, type PurposeCode } from './purposes.ts';

// Baseline permissions of the built-in roles, as migration 0005 seeds them.
const rolePermissions: Record<string, string[]> = {
  admin: [
    'organization:read',
    'organization:update',
    'user:read',
    'user:create',
    'user:update',
    'role:read',
    'role:manage',
    'access_policy:manage',
    'key:manage',
    'api_key:manage',
    'session:revoke',
    'grant:manage',
  ],
  doctor: [
    'patient:create',
    'patient:read',
    'patient:update',
    'patient:search',
    'case:read',
    'case:update',
    'diagnosis:create',
    'diagnosis:update',
    'break_glass:invoke',
  ],
  nurse: [
    'patient:create',
    'patient:read',
    'patient:search',
    'case:read',
    'diagnosis:read',
    'break_glass:invoke',
  ],
  auditor: ['audit:read', 'report:read', 'review_task:close'],
  analyst: ['analytics:read', 'report:read'],
  reviewer: ['prior_auth:read', 'prior_auth:decide', 'patient:read', 'claim:read'],
};

function principal(
  role: string,
  purpose: PurposeCode | undefined,
  extra: Partial<Principal> = {},
): Principal {
  return {
    orgId: '11111111-1111-4111-8111-111111111111',
    userId: '22222222-2222-4222-8222-222222222222',
    actorType: 'user',
    principalType: 'human',
    sessionId: '33333333-3333-4333-8333-333333333333',
    apiKeyId: undefined,
    roles: [role],
    permissions: new Set(rolePermissions[role]),
    mfaVerified: true,
    restricted: null,
    breakGlass: new Map(),
    policyVersion: 1,
    settings: defaultSettings,
    purpose,
    ...extra,
  };
}

// role, permission, purpose, expected outcome ('allow' or the deny reason)
const matrix: [string, string, PurposeCode | undefined, string][] = [
  ['doctor', 'patient:read', 'TREAT', 'allow'],
  ['doctor', 'patient:read', undefined, 'purpose_required'],
  ['doctor', 'patient:read', 'HMARKT' as PurposeCode, 'purpose_not_permitted'],
  ['doctor', 'patient:read', 'HRESCH', 'purpose_not_permitted'],
  ['doctor', 'patient:read', 'ETREAT', 'break_glass_required'],
  ['doctor', 'case:update', 'TREAT', 'allow'],
  ['doctor', 'audit:read', 'HOPERAT', 'missing_permission'],
  ['doctor', 'user:create', undefined, 'missing_permission'],
  ['nurse', 'patient:read', 'TREAT', 'allow'],
  ['nurse', 'diagnosis:update', 'TREAT', 'missing_permission'],
  ['nurse', 'patient:read', 'HPAYMT', 'allow'],
  ['admin', 'patient:read', 'TREAT', 'missing_permission'],
  ['admin', 'user:create', undefined, 'allow'],
  ['admin', 'key:manage', undefined, 'allow'],
  ['auditor', 'audit:read', 'HOPERAT', 'allow'],
  ['auditor', 'audit:read', 'HCOMPL', 'allow'],
  ['auditor', 'patient:read', 'HOPERAT', 'missing_permission'],
  ['auditor', 'case:read', 'TREAT', 'missing_permission'],
  ['analyst', 'analytics:read', undefined, 'allow'],
  ['analyst', 'patient:read', 'HRESCH', 'missing_permission'],
  ['reviewer', 'prior_auth:decide', 'HPAYMT', 'allow'],
  ['reviewer', 'prior_auth:decide', undefined, 'purpose_required'],
  ['reviewer', 'patient:read', 'HPAYMT', 'allow'],
  ['reviewer', 'patient:read', 'TREAT', 'allow'],
  ['reviewer', 'case:read', 'TREAT', 'missing_permission'],
];

describe('role × permission × purpose matrix', () => {
  for (const [role, permission, purpose, expected] of matrix) {
    test(`${role} ${permission} ${purpose ?? '(no purpose)'} → ${expected}`, () => {
      const d = evaluate(principal(role, purpose), { permission }, []);
      assert.equal(d.allow ? 'allow' : d.reason, expected);
      if (!d.allow) assert.deepEqual(d.fields, [], 'a deny shows no fields');
    });
  }
});

describe('minimum necessary fields', () => {
  test('doctors see every field for treatment; nurses not the SSN; reviewers billing fields only', () => {
    assert.ok(
      evaluate(principal('doctor', 'TREAT'), { permission: 'patient:read' }, []).fields.includes(
        'ssn',
      ),
    );
    const nurse = evaluate(principal('nurse', 'TREAT'), { permission: 'patient:read' }, []).fields;
    assert.ok(nurse.includes('firstName') && !nurse.includes('ssn'));
    assert.deepEqual(
      [
        ...evaluate(principal('reviewer', 'HPAYMT'), { permission: 'patient:read' }, []).fields,
      ].sort(),
      ['dateOfBirth', 'firstName', 'insurance', 'lastName'],
    );
  });
  test('a nurse reading for payment is allowed by purpose but sees no fields', () => {
    const d = evaluate(principal('nurse', 'HPAYMT'), { permission: 'patient:read' }, []);
    assert.equal(d.allow, true);
    assert.deepEqual(d.fields, []);
  });
});

const policy = (name: string, doc: unknown): CompiledPolicy =>
  compilePolicy(name, validatePolicyDocument(doc));

describe('organization policies', () => {
  test('deny overrides the role baseline and names the policy', () => {
    const p = policy('no-agents-on-patients', {
      effect: 'deny',
      actions: ['patient:*'],
      actor: { principalTypes: ['agent'] },
    });
    const agent = principal('nurse', 'TREAT', {
      principalType: 'agent',
      actorType: 'agent',
      sessionId: undefined,
      apiKeyId: 'k',
    });
    const d = evaluate(agent, { permission: 'patient:read' }, [p]);
    assert.deepEqual(
      [d.allow, d.reason, d.policies],
      [false, 'policy_denied', ['no-agents-on-patients']],
    );
    assert.equal(
      evaluate(principal('nurse', 'TREAT'), { permission: 'patient:read' }, [p]).allow,
      true,
    );
  });

  test('care-team restriction denies non-members only', () => {
    const p = policy('care-team-only', {
      effect: 'deny',
      actions: ['case:read'],
      actor: { roles: ['nurse'] },
      resource: { careTeam: 'non-member' },
    });
    const nurse = principal('nurse', 'TREAT');
    assert.equal(
      evaluate(nurse, { permission: 'case:read', resource: { careTeam: [] } }, [p]).allow,
      false,
    );
    assert.equal(
      evaluate(nurse, { permission: 'case:read', resource: { careTeam: [nurse.userId] } }, [p])
        .allow,
      true,
    );
  });

  test('allow widens purposes and fields but never grants a permission', () => {
    const p = policy('research-dob', {
      effect: 'allow',
      actions: ['patient:read'],
      purposes: ['HRESCH'],
      fields: ['dateOfBirth'],
    });
    const d = evaluate(principal('doctor', 'HRESCH'), { permission: 'patient:read' }, [p]);
    assert.deepEqual([d.allow, d.fields], [true, ['dateOfBirth']]);
    assert.equal(
      evaluate(principal('analyst', 'HRESCH'), { permission: 'patient:read' }, [p]).reason,
      'missing_permission',
    );
  });

  test('limit narrows the fields', () => {
    const p = policy('no-ssn', {
      effect: 'limit',
      actions: ['patient:read'],
      fields: ['firstName', 'lastName'],
    });
    assert.deepEqual(
      [
        ...evaluate(principal('doctor', 'TREAT'), { permission: 'patient:read' }, [p]).fields,
      ].sort(),
      ['firstName', 'lastName'],
    );
  });

  test('time windows match inside the window only, wrapping midnight', () => {
    const p = policy('nights', {
      effect: 'deny',
      actions: ['patient:read'],
      time: { utcHours: { from: 22, to: 6 } },
    });
    const at = (h: number) => new Date(Date.UTC(2026, 0, 1, h));
    assert.equal(
      evaluate(principal('doctor', 'TREAT'), { permission: 'patient:read', now: at(23) }, [p])
        .allow,
      false,
    );
    assert.equal(
      evaluate(principal('doctor', 'TREAT'), { permission: 'patient:read', now: at(3) }, [p]).allow,
      false,
    );
    assert.equal(
      evaluate(principal('doctor', 'TREAT'), { permission: 'patient:read', now: at(12) }, [p])
        .allow,
      true,
    );
  });

  test('invalid documents are rejected with every problem named', () => {
    assert.throws(
      () => validatePolicyDocument({ effect: 'maybe', actions: [] }),
      /effect.*actions/s,
    );
    assert.throws(
      () => validatePolicyDocument({ effect: 'allow', actions: ['patient:read'], extra: 1 }),
      /\/extra is not a known property/,
    );
    assert.throws(
      () => validatePolicyDocument({ effect: 'deny', actions: ['patient:read'], fields: ['ssn'] }),
      /no meaning on a deny/,
    );
    assert.throws(
      () => validatePolicyDocument({ effect: 'limit', actions: ['patient:read'] }),
      /required on a limit/,
    );
    assert.throws(
      () =>
        validatePolicyDocument({ effect: 'allow', actions: ['patient:read'], purposes: ['FUN'] }),
      /not a known purpose/,
    );
    assert.throws(() => validatePolicyDocument([]), /JSON object/);
    for (const action of ['patient:read', 'patient:*', 'case:create', 'policy_record:read'])
      assert.throws(
        () =>
          validatePolicyDocument({
            effect: 'deny',
            actions: ['case:read', action],
            resource: { careTeam: 'non-member' },
          }),
        /has no care team/,
        action,
      );
  });

  test('property: random documents either validate or throw validation_failed, never crash', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        try {
          const doc = validatePolicyDocument(v);
          compilePolicy('x', doc);
        } catch (e) {
          assert.equal((e as { code?: string }).code, 'validation_failed');
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('MFA, break-glass and agents', () => {
  test('MFA-required roles without a verified session may only enroll', () => {
    const admin = principal('admin', undefined, { mfaVerified: false });
    assert.equal(evaluate(admin, { permission: 'user:create' }, []).reason, 'mfa_required');
    assert.equal(evaluate(admin, { permission: 'self:mfa_enroll' }, []).allow, true);
    const restricted = principal('doctor', 'TREAT', { restricted: 'mfa_enrollment' });
    assert.equal(
      evaluate(restricted, { permission: 'patient:read' }, []).reason,
      'mfa_enrollment_required',
    );
    assert.equal(
      evaluate(restricted, { permission: 'self:sessions' }, []).reason,
      'mfa_enrollment_required',
    );
  });

  const patientA = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa';
  const patientB = 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb';
  const openFor = (until: string) => ({ breakGlass: new Map([[patientA, new Date(until)]]) });

  test('break-glass opens clinical reads for ETREAT, over deny policies, until it expires', () => {
    const p = policy('deny-all-reads', { effect: 'deny', actions: ['patient:*'] });
    const now = new Date('2026-11-22T10:00:00Z');
    const active = principal('nurse', 'ETREAT', openFor('2026-11-22T10:30:00Z'));
    const target = { patientId: patientA };
    const d = evaluate(active, { permission: 'patient:read', resource: target, now }, [p]);
    assert.deepEqual([d.allow, d.breakGlass, d.reason], [true, true, 'break_glass']);
    assert.ok(d.fields.length > 0);
    assert.equal(
      evaluate(active, { permission: 'patient:update', resource: target, now }, [p]).allow,
      false,
      'break-glass is read-only',
    );
    const expired = principal('nurse', 'ETREAT', openFor('2026-11-22T09:59:59Z'));
    assert.equal(
      evaluate(expired, { permission: 'patient:read', resource: target, now }, []).reason,
      'break_glass_required',
    );
    const notClinical = principal('reviewer', 'ETREAT', openFor('2026-11-22T10:30:00Z'));
    assert.equal(
      evaluate(notClinical, { permission: 'patient:read', resource: target, now }, []).allow,
      false,
    );
  });

  test("break-glass opens the patient it names, not another, and not the organization's lists", () => {
    const now = new Date('2026-11-22T10:00:00Z');
    const active = principal('doctor', 'ETREAT', openFor('2026-11-22T10:30:00Z'));
    const read = (resource: { patientId?: string } | undefined, permission = 'case:read') =>
      evaluate(active, { permission, now, ...(resource ? { resource } : {}) }, []);
    // Upper-case spelling of the same id is the same patient.
    assert.equal(read({ patientId: patientA.toUpperCase() }).allow, true);
    assert.equal(read({ patientId: patientB }).reason, 'break_glass_other_patient');
    assert.equal(read({}).reason, 'break_glass_patient_required', 'a target without a patient');
    // The route's first evaluation (no target yet) is provisional: the secured route refuses
    // the request unless the handler later states a target of an opened patient.
    const first = read(undefined);
    assert.deepEqual([first.allow, first.breakGlass], [true, true]);
    assert.equal(
      read(undefined, 'patient:search').reason,
      'break_glass_patient_required',
      'no emergency search: it would reach every patient',
    );
    // Two sessions, two patients, each until its own end.
    const two = principal('doctor', 'ETREAT', {
      breakGlass: new Map([
        [patientA, new Date('2026-11-22T09:59:00Z')],
        [patientB, new Date('2026-11-22T10:30:00Z')],
      ]),
    });
    assert.equal(
      evaluate(two, { permission: 'case:read', resource: { patientId: patientA }, now }, []).reason,
      'break_glass_other_patient',
      'the session for A has ended',
    );
    assert.equal(
      evaluate(two, { permission: 'case:read', resource: { patientId: patientB }, now }, []).allow,
      true,
    );
  });

  test('break-glass overrides deny policies, never the role: a read the role lacks stays closed', () => {
    // This nurse role holds patient:read and case:read but not image:read or
    // treatment_plan:read (an organization may strip them): an emergency does not add them.
    const now = new Date('2026-11-22T10:00:00Z');
    const active = principal('nurse', 'ETREAT', openFor('2026-11-22T10:30:00Z'));
    const resource = { patientId: patientA };
    assert.equal(evaluate(active, { permission: 'case:read', resource, now }, []).allow, true);
    for (const permission of ['image:read', 'treatment_plan:read']) {
      const d = evaluate(active, { permission, resource, now }, []);
      assert.deepEqual([d.allow, d.reason], [false, 'missing_permission'], permission);
    }
  });

  test('API-key callers cannot use self-service routes', () => {
    const agent = principal('nurse', 'TREAT', {
      sessionId: undefined,
      apiKeyId: 'k',
      actorType: 'agent',
      principalType: 'agent',
    });
    assert.equal(evaluate(agent, { permission: 'self:sessions' }, []).reason, 'not_for_api_keys');
  });

  test('property: no purpose outside the baseline or an allow policy reaches PHI', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...Object.keys(rolePermissions)),
        fc.constantFrom(...purposeCodes),
        (role, purpose) => {
          const d = evaluate(principal(role, purpose), { permission: 'patient:read' }, []);
          if (d.allow)
            assert.ok(
              ['TREAT', 'CAREMGT', 'HPAYMT', 'COVAUTH', 'PATRQT'].includes(purpose),
              `${role} ${purpose}`,
            );
        },
      ),
    );
  });
});
