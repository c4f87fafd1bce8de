import { columnRegistry } from '../crypto/registry.ts';

/** Seed 1's encrypted TOTP secret (the base32 secret, per user). */
export const totpSecretColumn = columnRegistry.encrypted({
  schema: 'ward',
  table: 'mfa_factors',
  column: 'secret_encrypted',
  idColumn: 'id',
  kind: 'text',
  purpose: 'TOTP MFA secret (seed 1: "TOTP secret storage (encrypted)")',
});
