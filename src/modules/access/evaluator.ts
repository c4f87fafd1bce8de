import type { PolicyDocument } from './policy-document.ts';
import { mfaRequiredFor, type Principal } from './principal.ts';
import {
  baselineFields,
  baselinePurposes,
  phiResources,
  type PatientPhiField,
  type PurposeCode,
} from './purposes.ts';

/** What a route asks the evaluator. */
export interface AccessRequest {
  /** `resource:action`, or `self:…` for a principal acting on its own account. */
  readonly permission: string;
  /**
   * Facts about the target the policies may test (loaded by the route when needed). Under
   * break-glass a request that states its target must name the patient it belongs to: the
   * emergency session opens that patient's record only.
   */
  readonly resource?: { readonly careTeam?: readonly string[]; readonly patientId?: string };
  /**
   * Patient PHI fields the request would use (search keys, values written): all must be
   * visible to the caller, or the request is denied. This is what keeps a search from
   * becoming an oracle for a field the caller may not read.
   */
  readonly fields?: readonly PatientPhiField[];
  readonly now?: Date;
}

/** The evaluator's answer. Every deny carries a stable reason for the audit trail. */
export interface Decision {
  readonly allow: boolean;
  readonly reason: string;
  /** Patient PHI fields the caller may see for this request (minimum necessary). */
  readonly fields: readonly PatientPhiField[];
  readonly breakGlass: boolean;
  /** Names of the organization policies that decided. */
  readonly policies: readonly string[];
}

/** A policy compiled once per organization and policy version. */
export interface CompiledPolicy {
  readonly name: string;
  readonly effect: PolicyDocument['effect'];
  readonly fields: ReadonlySet<string> | undefined;
  matches(p: Principal, r: AccessRequest, purpose: PurposeCode | undefined, now: Date): boolean;
}

// The reads an active break-glass session opens past deny policies, for principals allowed to
// invoke it, and only those of them their roles hold: an emergency overrides the
// organization's policies, never the role (a read an organization took from a role stays
// closed). Each session opens one named patient's record; searching and listing patients are
// not among them (a search under ETREAT would reach every patient).
const breakGlassPermissions: ReadonlySet<string> = new Set([
  'patient:read',
  'case:read',
  'diagnosis:read',
  'image:read',
  'treatment_plan:read',
]);

const deny = (reason: string, policies: string[] = []): Decision => ({
  allow: false,
  reason,
  fields: [],
  breakGlass: false,
  policies,
});

/** Compiles a validated document into a matcher. */
export function compilePolicy(name: string, doc: PolicyDocument): CompiledPolicy {
  const exact = new Set(doc.actions.filter((a) => !a.endsWith(':*')));
  const wildcard = new Set(doc.actions.filter((a) => a.endsWith(':*')).map((a) => a.slice(0, -2)));
  const purposes = doc.purposes ? new Set(doc.purposes) : undefined;
  const roles = doc.actor?.roles ? new Set(doc.actor.roles) : undefined;
  const types = doc.actor?.principalTypes ? new Set<string>(doc.actor.principalTypes) : undefined;
  const users = doc.actor?.userIds
    ? new Set(doc.actor.userIds.map((u) => u.toLowerCase()))
    : undefined;
  const careTeam = doc.resource?.careTeam;
  const hours = doc.time?.utcHours;
  return {
    name,
    effect: doc.effect,
    fields: doc.fields ? new Set(doc.fields) : undefined,
    matches(p, r, purpose, now) {
      const [resource] = r.permission.split(':');
      if (!exact.has(r.permission) && !wildcard.has(resource ?? '')) return false;
      if (purposes && (!purpose || !purposes.has(purpose))) return false;
      if (roles && !p.roles.some((x) => roles.has(x))) return false;
      if (types && !types.has(p.principalType)) return false;
      if (users && !users.has(p.userId)) return false;
      if (careTeam) {
        // A care-team condition only applies where the route supplied the care team.
        if (!r.resource?.careTeam) return false;
        const member = r.resource.careTeam.includes(p.userId);
        if ((careTeam === 'member') !== member) return false;
      }
      if (hours) {
        const h = now.getUTCHours();
        const inside =
          hours.from <= hours.to
            ? h >= hours.from && h < hours.to
            : h >= hours.from || h < hours.to;
        if (!inside) return false;
      }
      return true;
    },
  };
}

/**
 * The one access decision every route passes through. Layers, in order: MFA state, self
 * service, purpose of use, break-glass, role permissions, the organization's deny policies,
 * purpose baseline (widened by allow policies), then minimum-necessary fields (widened by
 * allow, narrowed by limit policies). RLS enforces tenancy underneath, whatever this says.
 */
export function evaluate(
  p: Principal,
  r: AccessRequest,
  policies: readonly CompiledPolicy[],
): Decision {
  const now = r.now ?? new Date();
  // What a session that still owes MFA may do: enroll, see who it is, leave.
  const selfMfa =
    r.permission.startsWith('self:mfa') ||
    r.permission === 'self:me' ||
    r.permission === 'self:logout';
  if (p.restricted === 'mfa_enrollment' && !selfMfa) return deny('mfa_enrollment_required');
  if (p.sessionId && mfaRequiredFor(p) && !p.mfaVerified && !selfMfa) return deny('mfa_required');
  if (r.permission.startsWith('self:')) {
    return p.sessionId
      ? { allow: true, reason: 'self_service', fields: [], breakGlass: false, policies: [] }
      : deny('not_for_api_keys');
  }
  const resource = r.permission.split(':')[0] ?? '';
  const phi = phiResources.has(resource);
  const purpose = p.purpose;
  if (phi && !purpose) return deny('purpose_required');
  if (purpose === 'ETREAT') {
    const active = [...p.breakGlass.values()].some((until) => until > now);
    if (!active || !p.permissions.has('break_glass:invoke')) return deny('break_glass_required');
    if (r.permission === 'patient:search') return deny('break_glass_patient_required');
    if (breakGlassPermissions.has(r.permission)) {
      // The route's first evaluation knows only the permission; its handler states the
      // target (`resource`) once loaded, and then the patient must be one a session opened.
      // The secured route refuses a break-glass request that never stated one.
      if (r.resource !== undefined) {
        const patientId = r.resource.patientId?.toLowerCase();
        if (patientId === undefined) return deny('break_glass_patient_required');
        const until = p.breakGlass.get(patientId);
        if (until === undefined || until <= now) return deny('break_glass_other_patient');
      }
      // Break-glass overrides the organization's deny policies by design; it is audited,
      // alerted and reviewed instead. It never grants a permission the role lacks, nor widens
      // the fields a role may see.
      if (!p.permissions.has(r.permission)) return deny('missing_permission');
      const emergencyFields = fieldsFor(p, 'ETREAT', []);
      if (r.fields?.some((f) => !emergencyFields.includes(f))) return deny('field_not_permitted');
      return {
        allow: true,
        reason: 'break_glass',
        fields: emergencyFields,
        breakGlass: true,
        policies: [],
      };
    }
  }
  // ETREAT is only ever the break-glass path above: emergency reads by those allowed to invoke it.
  if (purpose === 'ETREAT') return deny('break_glass_required');
  if (!p.permissions.has(r.permission)) return deny('missing_permission');

  const matching = policies.filter((x) => x.matches(p, r, purpose, now));
  const denied = matching.filter((x) => x.effect === 'deny');
  if (denied.length > 0)
    return deny(
      'policy_denied',
      denied.map((x) => x.name),
    );
  const allows = matching.filter((x) => x.effect === 'allow');
  if (
    phi &&
    purpose &&
    !(baselinePurposes[resource] ?? []).includes(purpose) &&
    allows.length === 0
  ) {
    return deny('purpose_not_permitted');
  }
  const limits = matching.filter((x) => x.effect === 'limit');
  let fields = fieldsFor(p, purpose, allows);
  for (const l of limits) fields = fields.filter((f) => l.fields?.has(f));
  if (r.fields?.some((f) => !fields.includes(f)))
    return deny(
      'field_not_permitted',
      [...allows, ...limits].map((x) => x.name),
    );
  return {
    allow: true,
    reason: allows.length > 0 ? 'policy_allowed' : 'role_permission',
    fields,
    breakGlass: false,
    policies: [...allows, ...limits].map((x) => x.name),
  };
}

function fieldsFor(
  p: Principal,
  purpose: PurposeCode | undefined,
  allows: readonly CompiledPolicy[],
): PatientPhiField[] {
  const out = new Set<PatientPhiField>();
  if (purpose) {
    for (const role of p.roles) for (const f of baselineFields[role]?.[purpose] ?? []) out.add(f);
  }
  for (const a of allows) for (const f of a.fields ?? []) out.add(f as PatientPhiField);
  return [...out];
}
