import type { DemoInfo } from '../modules/demo/demo-service.ts';

const pad = (s: string, n: number) => s.padEnd(n);

/** The demo's banner: logins, the admin's MFA secret, and a short curl walkthrough. */
export function demoBanner(info: DemoInfo, address: string, where: string): string {
  const doctor = info.logins.find((l) => l.role === 'doctor');
  const admin = info.logins.find((l) => l.role === 'admin');
  const width = Math.max(...info.logins.map((l) => l.email.length));
  const lines = [
    `Ward demo listening on ${address} (${where})`,
    '',
    '*** DEMO ONLY — every patient, name and number here is SYNTHETIC. Do not enter real PHI. ***',
    info.created
      ? `Created the demo: 2 organizations, ${info.logins.length} users, ${info.patients} synthetic patients with cases, diagnoses and plans.`
      : `Demo data already present (${info.patients} synthetic patients); nothing was duplicated.`,
    '',
    'Logins (passwords generated at random on first start; kept for this demo only, mode 0600, in',
    `  ${info.credentialsFile}):`,
    ...info.logins.map(
      (l) => `  ${pad(l.role, 9)} ${pad(l.email, width)}  ${l.password}   ${l.organization}`,
    ),
    '',
    `The admin must use MFA (new organizations require it for admins). Its authenticator secret:`,
    `  ${info.adminTotpSecret}`,
    `  ${info.adminOtpauthUri}`,
    '  Add it to an authenticator app, or print the current code with: npx ward demo totp',
    'The auditor must use MFA too (it reads the audit trail and handles security alerts): its first',
    '  login may only enroll an authenticator (POST /api/v1/auth/mfa/totp, then /confirm).',
    '',
    'Try it with curl (purpose of use TREAT: treatment):',
    `  BASE=${address}`,
    `  TOKEN=$(curl -s $BASE/api/v1/auth/login -H 'content-type: application/json' \\`,
    `    -d '{"email":"${doctor?.email ?? ''}","password":"${doctor?.password ?? ''}"}' \\`,
    `    | node -pe 'JSON.parse(require("fs").readFileSync(0, "utf8")).accessToken')`,
    `  curl -s -X POST $BASE/api/v1/patients/search -H "authorization: Bearer $TOKEN" \\`,
    `    -H 'X-Purpose-Of-Use: TREAT' -H 'content-type: application/json' -d '{"mrn":"${info.sampleMrn}"}'`,
    `  curl -s -X POST $BASE/api/v1/patients -H "authorization: Bearer $TOKEN" \\`,
    `    -H 'X-Purpose-Of-Use: TREAT' -H 'content-type: application/json' \\`,
    `    -d '{"mrn":"MY-0001","firstName":"Test","lastName":"Person","dateOfBirth":"1990-01-01"}'`,
    `  curl -s $BASE/api/v1/patients/<id from the answer> -H "authorization: Bearer $TOKEN" -H 'X-Purpose-Of-Use: TREAT'`,
    '  Admin login (password and TOTP code in one step):',
    `  curl -s $BASE/api/v1/auth/login -H 'content-type: application/json' \\`,
    `    -d '{"email":"${admin?.email ?? ''}","password":"${admin?.password ?? ''}","totpCode":"'$(npx ward demo totp)'"}'`,
    '',
    `API reference: ${address}/api/docs   Health: ${address}/healthz`,
    'Press Ctrl-C to stop. Run `npx ward demo` again to restart with the same data and logins.',
  ];
  return lines.join('\n');
}
