import type { PurposeCode } from './purposes.ts';

/** Who is making a request, as established inside its transaction. */
export interface Principal {
  readonly orgId: string;
  readonly userId: string;
  /** `user` for people with sessions; `agent` for every API-key caller (seed 3). */
  readonly actorType: 'user' | 'agent';
  readonly principalType: 'human' | 'service' | 'agent';
  readonly sessionId: string | undefined;
  readonly apiKeyId: string | undefined;
  readonly roles: readonly string[];
  readonly permissions: ReadonlySet<string>;
  readonly mfaVerified: boolean;
  /** Set when the session may only enroll MFA (the organization requires it, none yet). */
  readonly restricted: 'mfa_enrollment' | null;
  /**
   * Active break-glass sessions: each patient (lower-case id) whose record an emergency
   * session opened, and when that session ends. Empty when there is none.
   */
  readonly breakGlass: ReadonlyMap<string, Date>;
  readonly policyVersion: number;
  readonly settings: OrganizationSettings;
  readonly purpose: PurposeCode | undefined;
}

/** Security settings an organization controls (stored in `ward.organizations.settings`). */
export interface OrganizationSettings {
  /** Roles whose members must use MFA; `admin` by default. */
  readonly mfaRequiredRoles: readonly string[];
  /** Automatic logoff after this many idle minutes (HIPAA 164.312(a)(2)(iii)). */
  readonly sessionIdleMinutes: number;
  /** Hard limit on a session's life. */
  readonly sessionAbsoluteMinutes: number;
  /** Failed logins before an account is locked, and for how long. */
  readonly lockoutThreshold: number;
  readonly lockoutMinutes: number;
}

/** Defaults for settings an organization has not set. */
export const defaultSettings: OrganizationSettings = {
  mfaRequiredRoles: ['admin'],
  sessionIdleMinutes: 15,
  sessionAbsoluteMinutes: 12 * 60,
  lockoutThreshold: 5,
  lockoutMinutes: 15,
};

/** Reads settings from the stored JSON, falling back to defaults field by field. */
export function readSettings(raw: unknown): OrganizationSettings {
  const o = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
  const int = (k: keyof OrganizationSettings, min: number, max: number): number => {
    const v = o[k];
    return typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max
      ? v
      : (defaultSettings[k] as number);
  };
  const roles = o['mfaRequiredRoles'];
  return {
    mfaRequiredRoles:
      Array.isArray(roles) && roles.every((r) => typeof r === 'string')
        ? roles
        : defaultSettings.mfaRequiredRoles,
    sessionIdleMinutes: int('sessionIdleMinutes', 1, 24 * 60),
    sessionAbsoluteMinutes: int('sessionAbsoluteMinutes', 5, 30 * 24 * 60),
    lockoutThreshold: int('lockoutThreshold', 3, 100),
    lockoutMinutes: int('lockoutMinutes', 1, 24 * 60),
  };
}

/**
 * Permissions whose holder must use MFA (HIPAA 164.312(d)), whatever their role is called: a
 * role named by the organization's `mfaRequiredRoles` adds to this, never subtracts from it.
 * Two kinds belong here:
 * - permissions that change security state — who may do what, how the organization is
 *   secured, keys, sessions, grants, and the handling of security alerts and of break-glass
 *   reviews (acknowledging or resolving an alert, closing a review, decides whether an
 *   incident is followed up);
 * - permissions that read the organization's security records in bulk: the audit trail (every
 *   access to every patient), security alerts and review tasks, other people's sessions and the
 *   API keys (who holds which credential, from where).
 * Left out on purpose: `break_glass:invoke` (emergency access must not wait for a second
 * factor a clinician may not have enrolled; it is reasoned, time-boxed, alerted and reviewed
 * instead), reads of configuration rather than records (roles, policies, grants, key status,
 * the user directory), `audit:verify` (inclusion proofs name no person) and `report:read`
 * (reserved for analytics; the privacy reports, which name who read which patient, are behind
 * `audit:read` and so need MFA).
 */
export const administrativePermissions: ReadonlySet<string> = new Set([
  'organization:update',
  'user:create',
  'user:update',
  'role:manage',
  'access_policy:manage',
  'api_key:manage',
  'key:manage',
  'session:revoke',
  'grant:manage',
  'alert:manage',
  'review_task:close',
  'audit:read',
  'alert:read',
  'review_task:read',
  'session:read',
  'api_key:read',
]);

/**
 * True when a human principal must use MFA: one of their roles is in the organization's
 * `mfaRequiredRoles`, or they hold an administrative permission through any role.
 */
export function mfaRequiredFor(
  p: Pick<Principal, 'roles' | 'settings' | 'principalType' | 'permissions'>,
): boolean {
  if (p.principalType !== 'human') return false;
  if (p.roles.some((r) => p.settings.mfaRequiredRoles.includes(r))) return true;
  // Runs on every evaluation: sixteen set lookups, not a walk over every permission held.
  for (const perm of administrativePermissions) if (p.permissions.has(perm)) return true;
  return false;
}
