import fs from 'node:fs';
import path from 'node:path';

/** One demo login as stored for reprinting. */
export interface DemoLogin {
  readonly email: string;
  readonly role: string;
  readonly organization: string;
  readonly password: string;
}

/** The demo's stored credentials: demo-only, generated on first seed, never shipped in code. */
export interface DemoCredentials {
  readonly warning: string;
  readonly providerOrgId: string;
  readonly payerOrgId: string;
  readonly logins: readonly DemoLogin[];
  /** Base32 TOTP secret of the demo admin (admins must use MFA). */
  readonly adminTotpSecret: string;
}

export const demoCredentialsWarning =
  'DEMO ONLY: synthetic data and generated passwords for a local demo. Never reuse these credentials, and never put real PHI in a demo data directory.';

/** Where the demo keeps its credentials: in the data directory, readable by the owner only. */
export function demoCredentialsPath(dataDir: string): string {
  return path.join(dataDir, 'demo-credentials.json');
}

/** Reads the stored credentials, or undefined when there are none (or they are unreadable). */
export function readDemoCredentials(dataDir: string): DemoCredentials | undefined {
  const file = demoCredentialsPath(dataDir);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const v = JSON.parse(text) as Partial<DemoCredentials>;
    if (
      typeof v.providerOrgId !== 'string' ||
      typeof v.payerOrgId !== 'string' ||
      typeof v.adminTotpSecret !== 'string' ||
      !Array.isArray(v.logins)
    )
      return undefined;
    return v as DemoCredentials;
  } catch {
    return undefined;
  }
}

/**
 * Writes the credentials with mode 0600 (created that way, then re-asserted in case the file
 * existed with wider permissions), through a temporary file so a crash never leaves half a file.
 */
export function writeDemoCredentials(dataDir: string, c: DemoCredentials): string {
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = demoCredentialsPath(dataDir);
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(c, null, 2)}\n`, { mode: 0o600 });
  fs.chmodSync(tmp, 0o600);
  fs.renameSync(tmp, file);
  return file;
}
