import type { Tx } from '../../platform/db/index.ts';
import { WardError } from '../../platform/errors.ts';
import { record } from '../audit/record.ts';
import { readSettings, type OrganizationSettings } from '../access/principal.ts';
import { builtinRoles } from './model.ts';

/**
 * Changes an organization's security settings (MFA per role, session timeouts, lockout).
 * `admin` can never be removed from the MFA-required roles: an administrator account without
 * a second factor is the classic way into every tenant's settings.
 */
export async function updateOrganizationSettings(
  q: Tx,
  orgId: string,
  patch: Partial<OrganizationSettings>,
): Promise<OrganizationSettings> {
  const r = await q.query<{ settings: unknown }>(
    'select settings from ward.organizations where id = $1 for update',
    [orgId],
  );
  const row = r.rows[0];
  if (!row) throw new WardError('not_found');
  const next = { ...readSettings(row.settings), ...patch };
  if (patch.mfaRequiredRoles) {
    const roles = await q.query<{ name: string }>('select name from ward.roles');
    const known = new Set([...roles.rows.map((x) => x.name), ...builtinRoles]);
    const unknown = patch.mfaRequiredRoles.filter((x) => !known.has(x));
    if (unknown.length > 0)
      throw new WardError('validation_failed', `Unknown roles: ${unknown.join(', ')}`);
    if (!patch.mfaRequiredRoles.includes('admin'))
      throw new WardError('validation_failed', 'MFA stays required for admin');
  }
  if (next.sessionIdleMinutes > next.sessionAbsoluteMinutes) {
    throw new WardError(
      'validation_failed',
      'The idle timeout cannot exceed the absolute session limit',
    );
  }
  const merged = { ...(row.settings as Record<string, unknown>), ...next };
  await q.query('update ward.organizations set settings = $2::jsonb where id = $1', [
    orgId,
    JSON.stringify(merged),
  ]);
  await record(q, {
    action: 'U',
    eventType: 'organization.settings.update',
    entityType: 'Organization',
    entityId: orgId,
    metadata: { changed: Object.keys(patch) },
  });
  return next;
}
