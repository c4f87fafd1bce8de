import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { runCli } from '../../../test/helpers/cli.ts';
import { recordDetached } from '../../modules/audit/record.ts';
import { Database } from '../../platform/db/database.ts';
import { createPgliteDriver } from '../../platform/db/pglite.ts';
import { csvField } from './audit-export.ts';

test('CSV fields that a spreadsheet would run as formulas open as text', () => {
  for (const hostile of [
    '=HYPERLINK("http://evil.test")',
    '+1+1',
    '-2+3',
    '@SUM(1+1)',
    '\tx',
    '\rx',
  ])
    assert.ok(csvField(hostile).replace(/^"/, '').startsWith("'"), hostile);
  assert.equal(csvField('Mozilla/5.0'), 'Mozilla/5.0');
  assert.equal(csvField('a,b'), '"a,b"');
  assert.equal(csvField('=a,"b"'), `"'=a,""b"""`);
  assert.equal(csvField(-5), '-5', 'numbers stay numbers');
  assert.equal(csvField(null), '');
  assert.equal(csvField({ k: '=x' }), '"{""k"":""=x""}"', 'JSON starts with a brace');
});

describe('ward audit export (embedded)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ward-audit-export-'));
  const env = {
    WARD_DATA_DIR: dir,
    WARD_MASTER_KEY: Buffer.alloc(32, 5).toString('base64'),
    WARD_LOG_LEVEL: 'error',
  };
  const range = ['--from', '2000-01-01', '--to', '2100-01-01'];
  after(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a hostile user agent is exported as inert text; the file is written whole, 0600', async () => {
    assert.equal((await runCli(['db', 'migrate'], env)).code, 0);
    const db = new Database(await createPgliteDriver({ dataDir: dir }));
    try {
      await recordDetached(db, undefined, {
        action: 'E',
        eventType: 'auth.request',
        outcome: '4',
        outcomeReason: 'missing_token',
        userAgent: '=HYPERLINK("http://evil.test","click")',
      });
    } finally {
      await db.close();
    }
    const out = path.join(dir, 'events.csv');
    fs.writeFileSync(out, 'an earlier export\n', { mode: 0o644 });
    const r = await runCli(['audit', 'export', ...range, '--format', 'csv', '--out', out], env);
    assert.equal(r.code, 0, r.stderr);
    const csv = fs.readFileSync(out, 'utf8');
    assert.match(csv, /"'=HYPERLINK\(""http:\/\/evil\.test"",""click""\)"/);
    assert.doesNotMatch(csv, /,=HYPERLINK|,"=HYPERLINK/);
    assert.equal(fs.statSync(out).mode & 0o777, 0o600, 'replaced by a new 0600 file');
    assert.deepEqual(
      fs.readdirSync(dir).filter((f) => f.endsWith('.partial')),
      [],
      'no partial file is left',
    );
  });

  test('a link at --out is written through, never replaced', async () => {
    const target = path.join(dir, 'target.jsonl');
    const link = path.join(dir, 'link.jsonl');
    fs.writeFileSync(target, '');
    fs.symlinkSync(target, link);
    const r = await runCli(['audit', 'export', ...range, '--out', link], env);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(fs.lstatSync(link).isSymbolicLink(), 'the link is still a link');
    assert.match(fs.readFileSync(target, 'utf8'), /auth\.request/);
    const missing = await runCli(
      ['audit', 'export', ...range, '--out', path.join(dir, 'no', 'such', 'dir', 'x.jsonl')],
      env,
    );
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /cannot write --out .*x\.jsonl/);
    assert.doesNotMatch(missing.stderr, /\.partial/);
  });

  test('a failed export leaves the earlier file as it was and nothing half-written', async () => {
    const out = path.join(dir, 'kept.jsonl');
    fs.writeFileSync(out, 'the earlier export\n');
    const r = await runCli(['audit', 'export', ...range, '--out', out], {
      ...env,
      DATABASE_URL: 'postgres://ward@127.0.0.1:1/nowhere',
    });
    assert.notEqual(r.code, 0);
    assert.equal(fs.readFileSync(out, 'utf8'), 'the earlier export\n');
    assert.deepEqual(
      fs.readdirSync(dir).filter((f) => f.endsWith('.partial')),
      [],
    );
    const backwards = await runCli(
      ['audit', 'export', '--from', '2030-01-01', '--to', '2020-01-01'],
      env,
    );
    assert.equal(backwards.code, 2, 'a usage error');
    assert.match(backwards.stderr, /--from must not be later than --to/);
  });

  test('an organization id that names no organization is refused and leaves no event', async () => {
    const count = async () => {
      const db = new Database(await createPgliteDriver({ dataDir: dir }));
      try {
        return await db.asAdmin(async (tx) => {
          const r = await tx.query<{ n: number }>(
            "select count(*)::int as n from audit.events where event_type = 'system.access'",
          );
          return r.rows[0]?.n ?? -1;
        });
      } finally {
        await db.close();
      }
    };
    const before = await count();
    const out = path.join(dir, 'nobody.jsonl');
    const r = await runCli(
      ['audit', 'export', ...range, '--org', '00000000-0000-4000-8000-00000000beef', '--out', out],
      env,
    );
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /No organization has the id 00000000-0000-4000-8000-00000000beef/);
    assert.equal(fs.existsSync(out), false, 'no file is written');
    assert.equal(await count(), before, 'the refused export recorded nothing');
  });
});
