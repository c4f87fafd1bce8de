import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { lastJson, runCli } from '../helpers/cli.ts';
import { createCliTarget, type CliTarget } from '../helpers/cli-target.ts';
import { availableEngines } from '../helpers/db.ts';
import { seedTenant } from '../helpers/fixtures.ts';

// `ward objects sweep` against a real object directory: a referenced image file, an old file
// no row references (a crash between an upload's rename and its commit), a fresh one (an
// upload that may be about to commit), and old and fresh staged parts. Only the old,
// unreferenced things go, and a dry run removes nothing.
interface SweepJson {
  examined: number;
  unreferenced: number;
  unreferencedBytes: number;
  staged: number;
  dryRun: boolean;
}

for (const engine of availableEngines()) {
  describe(`ward objects sweep (${engine})`, () => {
    let t: CliTarget;
    let objects: string;
    const files: Record<string, string> = {};
    const twoHoursAgo = new Date(Date.now() - 2 * 3_600_000);

    const put = (rel: string, bytes: number, old: boolean) => {
      const file = path.join(objects, rel);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, Buffer.alloc(bytes, 1));
      if (old) fs.utimesSync(file, twoHoursAgo, twoHoursAgo);
      return file;
    };

    before(async () => {
      t = await createCliTarget(engine);
      objects = path.join(t.dataDir, 'objects');
      const rt = await t.open();
      let referenced: string;
      try {
        const tenant = await seedTenant(rt.db, 'Sweep');
        referenced = await rt.db.asAdmin(
          async (tx) =>
            (
              await tx.query<{ k: string }>(
                'select storage_key as k from clinical.medical_images where organization_id = $1 and storage_key is not null',
                [tenant.orgId],
              )
            ).rows[0]!.k,
        );
        files['referenced'] = put(referenced, 40, true);
        files['orphan'] = put(`${tenant.orgId}/${randomUUID()}/${randomUUID()}`, 100, true);
        files['fresh'] = put(`${tenant.orgId}/${randomUUID()}/${randomUUID()}`, 10, false);
        // Old files that are not image objects (a directory shared by mistake with the data
        // directory: the development key file, the embedded database's files) are never judged.
        files['keyFile'] = put('dev-master.key', 32, true);
        files['dbFile'] = put('pgdata/base/1/1259', 8, true);
        files['shortKey'] = put(`${tenant.orgId}/${randomUUID()}`, 8, true);
        files['stagedOld'] = put(`.staging/${randomUUID()}.part`, 5, true);
        files['stagedFresh'] = put(`.staging/${randomUUID()}.part`, 5, false);
      } finally {
        await rt.close();
      }
    });
    after(async () => t.close());

    const present = () =>
      Object.fromEntries(Object.entries(files).map(([k, f]) => [k, fs.existsSync(f)]));

    test('a dry run reports the unreferenced old file and the abandoned upload, removes nothing', async () => {
      const r = await runCli(['objects', 'sweep', '--dry-run', '--json'], t.env);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(lastJson<SweepJson>(r), {
        examined: 2,
        unreferenced: 1,
        unreferencedBytes: 100,
        staged: 1,
        dryRun: true,
      });
      assert.ok(Object.values(present()).every(Boolean));
    });

    test('the sweep removes exactly those, and the sweep itself is audited', async () => {
      const r = await runCli(['objects', 'sweep', '--json'], t.env);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(lastJson<SweepJson>(r).unreferenced, 1);
      assert.deepEqual(present(), {
        referenced: true,
        orphan: false,
        fresh: true,
        keyFile: true,
        dbFile: true,
        shortKey: true,
        stagedOld: false,
        stagedFresh: true,
      });
      const rt = await t.open();
      try {
        const n = await rt.db.asAdmin(
          async (tx) =>
            (
              await tx.query<{ n: number }>(
                `select count(*)::int as n from audit.events
                  where event_type = 'system.access' and metadata->>'job' = 'objects.sweep'`,
              )
            ).rows[0]!.n,
        );
        assert.ok(n >= 2, `expected the sweep's RLS bypass to be audited, found ${n}`);
      } finally {
        await rt.close();
      }
      const again = await runCli(['objects', 'sweep', '--json'], t.env);
      assert.equal(lastJson<SweepJson>(again).unreferenced, 0);
    });

    test('a grace shorter than ten minutes is refused before anything is touched', async () => {
      for (const bad of ['5', '-1', 'soon', '1.5']) {
        const r = await runCli(['objects', 'sweep', `--older-than=${bad}`], t.env);
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, /--older-than must be whole minutes/);
      }
      assert.equal(fs.existsSync(files['fresh']!), true);
    });
  });
}
