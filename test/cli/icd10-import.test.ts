import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { lastJson, runCli } from '../helpers/cli.ts';
import { createCliTarget, type CliTarget } from '../helpers/cli-target.ts';
import { availableEngines } from '../helpers/db.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ward-icd10-'));
const cleanup: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanup) await c();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A fixed-width line of a CMS order file (icd10cm_order_YYYY.txt). */
function orderLine(n: number, code: string, header: boolean, description: string): string {
  const short = description.slice(0, 60).padEnd(60);
  return `${String(n).padStart(5, '0')} ${code.padEnd(7)} ${header ? '0' : '1'} ${short} ${description}`;
}

function write(name: string, lines: string[]): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

const orderFile = write('icd10cm_order_2099.txt', [
  orderLine(1, 'A00', true, 'Cholera'),
  orderLine(2, 'A000', false, 'Cholera due to Vibrio cholerae 01, biovar cholerae'),
  orderLine(3, 'A001', false, 'Cholera due to Vibrio cholerae 01, biovar eltor'),
  orderLine(4, 'S52501A', false, 'Unsp fx the lower end of right radius, init for clos fx'),
  orderLine(5, 'I10', false, 'Essential (primary) hypertension'),
]);
const codesFile = write('icd10cm_codes_2099.txt', [
  'A000    Cholera due to Vibrio cholerae 01, biovar cholerae',
  'Z23     Encounter for immunization',
]);
const brokenFile = write('broken.txt', [
  orderLine(1, 'A00', true, 'Cholera'),
  orderLine(2, 'A000', false, 'Cholera due to Vibrio cholerae 01, biovar cholerae'),
  orderLine(3, 'A001', false, 'Cholera due to Vibrio cholerae 01, biovar eltor').replace(
    ' 1 Cholera',
    ' X Cholera',
  ),
]);
const nulFile = write('nul.txt', [
  orderLine(1, 'A00', true, 'Cholera'),
  orderLine(2, 'A000', false, 'Cholera due to\u0000 Vibrio cholerae'),
]);
const bidiFile = write('bidi.txt', [
  'A000    Cholera',
  'Z23     Encounter \u202efor\u001b[2J immunization',
]);

interface ImportJson {
  total: number;
  inserted: number;
  updated: number;
  unchanged: number;
  billable: number;
  headers: number;
  format: string;
  dryRun: boolean;
}

async function release(t: CliTarget, version: string) {
  const rt = await t.open();
  try {
    return await rt.db.asAdmin(
      async (tx) =>
        (
          await tx.query<{ code: string; description: string; billable: boolean }>(
            'select code, description, billable from clinical.icd10_codes where version = $1 order by code',
            [version],
          )
        ).rows,
    );
  } finally {
    await rt.close();
  }
}

for (const engine of availableEngines()) {
  describe(`ward icd10 import (${engine})`, () => {
    let t: CliTarget;
    before(async () => {
      t = await createCliTarget(engine);
      cleanup.push(() => t.close());
    });

    test('imports an order file: dotted codes, header flag as billable, counts', async () => {
      const dry = await runCli(
        ['icd10', 'import', '--file', orderFile, '--version', '2099', '--dry-run', '--json'],
        t.env,
      );
      assert.equal(dry.code, 0, dry.stderr);
      assert.deepEqual(
        { ...lastJson<ImportJson>(dry), dryRun: true },
        {
          version: '2099',
          total: 5,
          inserted: 5,
          updated: 0,
          unchanged: 0,
          billable: 4,
          headers: 1,
          dryRun: true,
          format: 'order',
        },
      );
      assert.deepEqual(await release(t, '2099'), [], 'a dry run writes nothing');

      const r = await runCli(
        ['icd10', 'import', '--file', orderFile, '--version', '2099', '--json'],
        t.env,
      );
      assert.equal(r.code, 0, r.stderr);
      assert.equal(lastJson<ImportJson>(r).inserted, 5);
      const rows = await release(t, '2099');
      assert.deepEqual(
        rows.map((x) => [x.code, x.billable]),
        [
          ['A00', false],
          ['A00.0', true],
          ['A00.1', true],
          ['I10', true],
          ['S52.501A', true],
        ],
      );
      assert.equal(
        rows.find((x) => x.code === 'S52.501A')?.description,
        'Unsp fx the lower end of right radius, init for clos fx',
      );

      // Re-importing the same release changes nothing.
      const again = await runCli(
        ['icd10', 'import', '--file', orderFile, '--version', '2099', '--json'],
        t.env,
      );
      assert.equal(again.code, 0, again.stderr);
      const j = lastJson<ImportJson>(again);
      assert.deepEqual([j.inserted, j.updated, j.unchanged], [0, 0, 5]);
      assert.equal((await release(t, '2099')).length, 5);
    });

    test('imports a codes file as an upsert (human output names the counts)', async () => {
      const r = await runCli(['icd10', 'import', '--file', codesFile, '--version', '2099'], t.env);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /codes file: 2 codes .* 1 new, 0 changed, 1 unchanged/);
      assert.equal((await release(t, '2099')).length, 6);
    });

    test('bad input changes nothing: malformed line N, missing file, bad version', async () => {
      const broken = await runCli(
        ['icd10', 'import', '--file', brokenFile, '--version', '2098'],
        t.env,
      );
      assert.equal(broken.code, 1);
      assert.match(broken.stderr, /Line 3: the header flag must be 0 or 1; nothing was imported/);
      const nul = await runCli(
        ['icd10', 'import', '--file', nulFile, '--version', '2098', '--json'],
        t.env,
      );
      assert.equal(nul.code, 1);
      assert.deepEqual(lastJson(nul), {
        error: {
          code: 'validation_failed',
          message:
            'Line 2: the line holds a control or invisible character (U+0000); nothing was imported',
        },
      });
      const bidi = await runCli(
        ['icd10', 'import', '--file', bidiFile, '--version', '2098'],
        t.env,
      );
      assert.equal(bidi.code, 1);
      assert.match(
        bidi.stderr,
        /^ward: Line 2: .*\(U\+202E\); nothing was imported \[validation_failed\]\n$/,
      );
      const missing = await runCli(
        ['icd10', 'import', '--file', path.join(dir, 'absent.txt'), '--version', '2098'],
        t.env,
      );
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /Cannot read .*absent\.txt \(ENOENT\) \[not_found\]/);
      for (const version of ['20 26', '', 'x'.repeat(33), "2026'; drop"]) {
        const r = await runCli(
          ['icd10', 'import', '--file', orderFile, `--version=${version}`],
          t.env,
        );
        assert.equal(r.code, 2, `version ${JSON.stringify(version)}`);
      }
      const noFile = await runCli(['icd10', 'import', '--version', '2098'], t.env);
      assert.equal(noFile.code, 2);
      assert.match(noFile.stderr, /--file and --version are required/);
      assert.deepEqual(await release(t, '2098'), []);
    });
  });
}
