import { WardError } from '../../platform/errors.ts';
import { patientPhiFields, purposeCodes } from './purposes.ts';

/**
 * An access policy document (seed 3's policy_access_policies), validated on save:
 *
 * {
 *   "effect": "allow" | "deny" | "limit",
 *   "actions": ["patient:read", "case:*"],            required
 *   "purposes": ["TREAT"],                            any purpose when absent
 *   "actor": { "roles": [..], "principalTypes": [..], "userIds": [..] },
 *   "resource": { "careTeam": "member" | "non-member" },  only on case-scoped actions
 *   "time": { "utcHours": { "from": 7, "to": 19 } },  matches inside [from, to), wrapping
 *   "fields": ["firstName", ..]                       allow: fields granted; limit: the most shown
 * }
 *
 * `deny` overrides everything but break-glass; `allow` widens purposes and fields for
 * permissions the actor's roles already hold (never grants a permission); `limit` narrows
 * the fields returned.
 */
export interface PolicyDocument {
  readonly effect: 'allow' | 'deny' | 'limit';
  readonly actions: readonly string[];
  readonly purposes?: readonly string[];
  readonly actor?: {
    readonly roles?: readonly string[];
    readonly principalTypes?: readonly ('human' | 'service' | 'agent')[];
    readonly userIds?: readonly string[];
  };
  readonly resource?: { readonly careTeam?: 'member' | 'non-member' };
  readonly time?: { readonly utcHours: { readonly from: number; readonly to: number } };
  readonly fields?: readonly string[];
}

type Problems = string[];

// Resources whose routes pass the case's care team to the evaluator (opening a case excepted:
// a case being opened has no team yet). A care-team condition on any other action could never
// match, so a deny or limit for non-members would silently let them through.
const careTeamResources: ReadonlySet<string> = new Set([
  'case',
  'diagnosis',
  'image',
  'treatment_plan',
  'prescription',
]);

/** Validates an untrusted document; throws `validation_failed` listing every problem. */
export function validatePolicyDocument(input: unknown): PolicyDocument {
  const problems: Problems = [];
  if (!isObject(input))
    throw new WardError('validation_failed', 'The policy document must be a JSON object');
  only(
    input,
    ['effect', 'actions', 'purposes', 'actor', 'resource', 'time', 'fields'],
    '',
    problems,
  );
  if (!['allow', 'deny', 'limit'].includes(input['effect'] as string))
    problems.push('/effect must be allow, deny or limit');
  const actions = stringList(input['actions'], '/actions', problems, 1);
  for (const a of actions)
    if (!/^[a-z][a-z_]*:([a-z][a-z_]*|\*)$/.test(a))
      problems.push(`/actions: "${a}" is not resource:action or resource:*`);
  if (input['purposes'] !== undefined) {
    for (const p of stringList(input['purposes'], '/purposes', problems, 1)) {
      if (!(purposeCodes as readonly string[]).includes(p))
        problems.push(`/purposes: "${p}" is not a known purpose of use`);
    }
  }
  const actor = input['actor'];
  if (actor !== undefined) {
    if (!isObject(actor)) problems.push('/actor must be an object');
    else {
      only(actor, ['roles', 'principalTypes', 'userIds'], '/actor', problems);
      if (actor['roles'] !== undefined) stringList(actor['roles'], '/actor/roles', problems, 1);
      if (actor['principalTypes'] !== undefined) {
        for (const t of stringList(actor['principalTypes'], '/actor/principalTypes', problems, 1)) {
          if (!['human', 'service', 'agent'].includes(t))
            problems.push(`/actor/principalTypes: "${t}" is not human, service or agent`);
        }
      }
      if (actor['userIds'] !== undefined) {
        for (const u of stringList(actor['userIds'], '/actor/userIds', problems, 1)) {
          if (!/^[0-9a-f-]{36}$/i.test(u)) problems.push(`/actor/userIds: "${u}" is not a UUID`);
        }
      }
    }
  }
  const resource = input['resource'];
  if (resource !== undefined) {
    if (!isObject(resource)) problems.push('/resource must be an object');
    else {
      only(resource, ['careTeam'], '/resource', problems);
      if (!['member', 'non-member'].includes(resource['careTeam'] as string))
        problems.push('/resource/careTeam must be member or non-member');
      for (const a of actions) {
        if (a === 'case:create' || !careTeamResources.has(a.split(':')[0] ?? ''))
          problems.push(
            `/resource/careTeam: "${a}" has no care team (only actions on an existing case, its diagnoses, images, plans and prescriptions do)`,
          );
      }
    }
  }
  const time = input['time'];
  if (time !== undefined) {
    const hours = isObject(time) ? time['utcHours'] : undefined;
    if (!isObject(time) || !isObject(hours))
      problems.push('/time must be { "utcHours": { "from": h, "to": h } }');
    else {
      only(time, ['utcHours'], '/time', problems);
      only(hours, ['from', 'to'], '/time/utcHours', problems);
      for (const k of ['from', 'to']) {
        const v = hours[k];
        if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 24)
          problems.push(`/time/utcHours/${k} must be an hour 0–24`);
      }
    }
  }
  if (input['fields'] !== undefined) {
    if (input['effect'] === 'deny') problems.push('/fields has no meaning on a deny policy');
    for (const f of stringList(input['fields'], '/fields', problems, 0)) {
      if (!(patientPhiFields as readonly string[]).includes(f))
        problems.push(`/fields: "${f}" is not a patient PHI field`);
    }
  } else if (input['effect'] === 'limit') {
    problems.push('/fields is required on a limit policy');
  }
  if (problems.length > 0)
    throw new WardError(
      'validation_failed',
      `Invalid policy document: ${problems.slice(0, 10).join('; ')}`,
    );
  return input as unknown as PolicyDocument;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function only(o: Record<string, unknown>, keys: string[], path: string, problems: Problems): void {
  for (const k of Object.keys(o))
    if (!keys.includes(k)) problems.push(`${path}/${k} is not a known property`);
}

function stringList(v: unknown, path: string, problems: Problems, min: number): string[] {
  if (
    !Array.isArray(v) ||
    v.length < min ||
    v.length > 100 ||
    !v.every((x) => typeof x === 'string' && x.length <= 100)
  ) {
    problems.push(`${path} must be a list of ${min}–100 short strings`);
    return [];
  }
  return v as string[];
}
