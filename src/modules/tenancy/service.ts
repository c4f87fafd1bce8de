import type { Database, Tx } from '../../platform/db/index.ts';
import { record } from '../audit/record.ts';
import { screenPassword } from '../auth/password-screen.ts';
import { isUuid } from '../../platform/db/index.ts';
import { isWardError, WardError } from '../../platform/errors.ts';
import { checkPasswordPolicy, hashPassword } from '../auth/passwords.ts';
import {
  organizationTypes,
  principalTypes,
  type Organization,
  type OrganizationType,
  type PrincipalType,
  type User,
} from './model.ts';
import { findOrganization, insertBuiltinRoles, insertOrganization } from './organizations-repo.ts';
import { assignRoleByName, findUser, insertUser } from './users-repo.ts';

/** Input for creating an organization. */
export interface CreateOrganizationInput {
  readonly name: string;
  readonly type: string;
  readonly taxId?: string | undefined;
  readonly metadata?: Record<string, unknown> | undefined;
}

/**
 * Creates an organization with its built-in roles. No tenant context can exist before its
 * organization does, so this is a platform operation that runs through `asSystem`.
 */
export async function createOrganization(
  db: Database,
  input: CreateOrganizationInput,
): Promise<Organization> {
  const name = input.name.trim();
  if (name.length < 1 || name.length > 200) {
    throw new WardError('validation_failed', 'The organization name must have 1 to 200 characters');
  }
  if (!organizationTypes.includes(input.type as OrganizationType)) {
    throw new WardError(
      'validation_failed',
      `The organization type must be one of ${organizationTypes.join(', ')}`,
    );
  }
  const taxId = input.taxId?.trim() || null;
  if (taxId !== null && !/^[0-9A-Za-z-]{2,32}$/.test(taxId)) {
    throw new WardError(
      'validation_failed',
      'The tax id must be 2 to 32 letters, digits or dashes',
    );
  }
  return db.asSystem(
    {
      name: 'tenancy.create-organization',
      reason: 'an organization has no tenant context before it exists',
    },
    async (tx) => {
      const org = await insertOrganization(tx, {
        name,
        type: input.type as OrganizationType,
        taxId,
        settings: defaultSettings(),
        metadata: input.metadata ?? {},
      });
      await insertBuiltinRoles(tx, org.id);
      return org;
    },
  );
}

/** Settings a new organization starts with; the identity issue's MFA policy reads these. */
function defaultSettings(): Record<string, unknown> {
  return { mfaRequiredRoles: ['admin'] };
}

/** Input for creating a user. */
export interface CreateUserInput {
  readonly orgId: string;
  readonly email: string;
  readonly role: string;
  readonly password?: string | undefined;
  readonly displayName?: string | undefined;
  readonly licenseNumber?: string | undefined;
  readonly principalType?: string | undefined;
  /** The user performing the creation, when there is one. */
  readonly createdBy?: string | undefined;
}

/**
 * Creates a user in an organization and assigns a role. Runs under the organization's own
 * context, so RLS — not this code — is what keeps the user inside its tenant.
 */
export async function createUser(db: Database, input: CreateUserInput): Promise<User> {
  if (!isUuid(input.orgId))
    throw new WardError('validation_failed', 'The organization id must be a UUID');
  const email = input.email.trim().toLowerCase();
  if (email.length > 254 || !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email)) {
    throw new WardError('validation_failed', 'The email address is not valid');
  }
  const principalType = (input.principalType ?? 'human') as PrincipalType;
  if (!principalTypes.includes(principalType)) {
    throw new WardError(
      'validation_failed',
      `The principal type must be one of ${principalTypes.join(', ')}`,
    );
  }
  if (principalType === 'human' && input.password === undefined) {
    throw new WardError('validation_failed', 'A person needs a password');
  }
  if (principalType !== 'human' && input.password !== undefined) {
    throw new WardError(
      'validation_failed',
      'Service accounts and agents authenticate with API keys, not passwords',
    );
  }
  const ctx = { orgId: input.orgId, userId: input.createdBy, actorType: 'system' as const };
  return db.withContext(ctx, (tx) => createUserInTx(tx, { ...input, email, principalType }));
}

/**
 * Gives a new user its role. The API passes the same role assignment an administrator makes
 * later (`setUserRole`, with its authorization); the operator's CLI assigns by name.
 */
export type AssignInitialRole = (tx: Tx, userId: string) => Promise<void>;

const assignByName =
  (input: CreateUserInput): AssignInitialRole =>
  async (tx, userId) => {
    const assigned = await assignRoleByName(tx, {
      orgId: input.orgId,
      userId,
      roleName: input.role,
      grantedBy: input.createdBy ?? null,
    });
    if (!assigned)
      throw new WardError(
        'validation_failed',
        `The organization has no role named "${input.role}"`,
      );
  };

/**
 * Creates a user inside the caller's transaction and gives it its role through `assignRole`
 * (by name unless told otherwise). A person created without a password cannot log in until
 * they set one (the API issues an activation token for that).
 */
export async function createUserInTx(
  tx: Tx,
  input: CreateUserInput & { principalType: PrincipalType },
  assignRole: AssignInitialRole = assignByName(input),
): Promise<User> {
  const email = input.email.trim().toLowerCase();
  const principalType = input.principalType;
  try {
    {
      const org = await findOrganization(tx, input.orgId);
      if (!org) {
        throw new WardError('not_found', 'The organization does not exist');
      }
      if (input.password !== undefined) {
        // Length first: its message is the one a person can act on.
        checkPasswordPolicy(input.password);
        screenPassword(input.password, { email, organizationName: org.name });
      }
      const passwordHash = input.password === undefined ? null : await hashPassword(input.password);
      const id = await insertUser(tx, {
        orgId: input.orgId,
        email,
        displayName: input.displayName?.trim() || null,
        principalType,
        licenseNumber: input.licenseNumber?.trim() || null,
        passwordHash,
      });
      await assignRole(tx, id);
      const user = await findUser(tx, id);
      if (!user) throw new WardError('internal', 'created user is not readable');
      await record(tx, {
        action: 'C',
        eventType: 'user.create',
        entityType: 'User',
        entityId: id,
        metadata: { role: input.role, principalType },
      });
      return user;
    }
  } catch (e) {
    if (isWardError(e)) throw e;
    const code = (e as { code?: unknown }).code;
    if (code === '23505')
      throw new WardError('already_exists', 'A user with this email address exists');
    throw e;
  }
}
