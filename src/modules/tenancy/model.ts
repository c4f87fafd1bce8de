/** Organization kinds from seed 2. */
export const organizationTypes = ['provider', 'insurer', 'administrator', 'auditor'] as const;
export type OrganizationType = (typeof organizationTypes)[number];

/** Roles every new organization starts with (seed 2), each seeded with its baseline permissions. */
export const builtinRoles = ['admin', 'doctor', 'nurse', 'auditor', 'analyst', 'reviewer'] as const;
export type BuiltinRole = (typeof builtinRoles)[number];

/** Kinds of principal (seed 3: users and AI agents; plus service accounts). */
export const principalTypes = ['human', 'service', 'agent'] as const;
export type PrincipalType = (typeof principalTypes)[number];

/** An organization as services see it. */
export interface Organization {
  readonly id: string;
  readonly name: string;
  readonly type: OrganizationType;
  readonly taxId: string | null;
  readonly status: 'active' | 'suspended' | 'closed';
  readonly settings: Record<string, unknown>;
  readonly metadata: Record<string, unknown>;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** A user (principal) as services see it; never carries the password hash. */
export interface User {
  readonly id: string;
  readonly organizationId: string;
  readonly email: string;
  readonly displayName: string | null;
  readonly principalType: PrincipalType;
  readonly licenseNumber: string | null;
  readonly status: 'active' | 'disabled' | 'locked' | 'pending';
  readonly roles: readonly string[];
  readonly createdAt: string;
}
