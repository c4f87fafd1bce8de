import { WardError } from '../../platform/errors.ts';

/** The one environment variable Ward still reads a signing key from, and only to import it. */
export const importKeyVariable = 'WARD_AUDIT_SIGNING_KEY';

/**
 * Reads the seed `ward audit keys import` takes over: WARD_AUDIT_SIGNING_KEY, the base64 of a
 * 32-byte Ed25519 seed (how deployments signed before the key moved into the KEK's custody).
 * Nothing else reads the variable; once imported it should be removed from the environment.
 */
export function readImportSeed(env: NodeJS.ProcessEnv): Buffer {
  const given = env[importKeyVariable]?.trim();
  if (!given) {
    throw new WardError(
      'bad_request',
      `${importKeyVariable} is not set: it must hold the base64 of the 32-byte seed to import`,
    );
  }
  const seed = /^[A-Za-z0-9+/]+={0,2}$/.test(given)
    ? Buffer.from(given, 'base64')
    : Buffer.alloc(0);
  if (seed.length !== 32) {
    throw new WardError(
      'config_invalid',
      `${importKeyVariable} must be the base64 encoding of exactly 32 bytes`,
    );
  }
  return seed;
}

/** Logged when the variable is still set where it is no longer read (server, sealer). */
export const leftoverImportKeyWarning = `${importKeyVariable} is set but only \`ward audit keys import\` reads it: the signing key lives in audit.signing_keys, wrapped by the KEK. Import it once, then remove the variable.`;
