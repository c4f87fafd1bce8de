import type { Database } from '../../platform/db/index.ts';
import type { ObjectStore } from '../../platform/objects/object-store.ts';
import { imageStorageKeyPattern } from './images-service.ts';

/** What one sweep found and did. */
export interface SweepResult {
  /** Published image objects (keys an upload writes) old enough to be judged. */
  readonly examined: number;
  /** Of those, objects no image row references (removed unless this was a dry run). */
  readonly unreferenced: number;
  readonly unreferencedBytes: number;
  /** Abandoned staged uploads (removed unless this was a dry run). */
  readonly staged: number;
  readonly dryRun: boolean;
}

/** Default age below which an object is never judged: far longer than any upload's commit. */
export const defaultSweepGraceMs = 60 * 60_000;

const lookupBatch = 500;

/**
 * Removes image objects that no `clinical.medical_images` row references. An upload publishes
 * its object (rename into place) a moment before the row naming it commits; a crash in between
 * leaves a file that is ciphertext under a content key that was never stored, so nobody can
 * read it, but it takes space and looks like data. Only objects older than `graceMs` are
 * judged, so an upload between its rename and its commit is never touched; abandoned staged
 * uploads older than that are removed too. Reads every organization's storage keys, so it runs
 * as the system role (recorded like every RLS bypass).
 */
export async function sweepImageObjects(
  db: Database,
  store: ObjectStore,
  opts: { graceMs?: number; dryRun?: boolean; now?: Date } = {},
): Promise<SweepResult> {
  const now = opts.now ?? new Date();
  const before = new Date(now.getTime() - (opts.graceMs ?? defaultSweepGraceMs));
  const dryRun = opts.dryRun === true;
  let examined = 0;
  let unreferenced = 0;
  let unreferencedBytes = 0;
  let batch: { key: string; size: number }[] = [];
  const judge = async () => {
    if (batch.length === 0) return;
    const keys = batch.map((o) => o.key);
    const referenced = await db.asSystem(
      { name: 'objects.sweep', reason: 'find image objects no image row references' },
      async (tx) =>
        new Set(
          (
            await tx.query<{ storage_key: string }>(
              `select storage_key from clinical.medical_images where storage_key = any($1::text[])`,
              [keys],
            )
          ).rows.map((r) => r.storage_key),
        ),
    );
    for (const o of batch) {
      if (referenced.has(o.key)) continue;
      unreferenced += 1;
      unreferencedBytes += o.size;
      if (!dryRun) await store.remove(o.key);
    }
    batch = [];
  };
  for await (const o of store.list(before)) {
    // Only what an upload names is judged: a directory shared by mistake (with the data
    // directory, say) keeps every file that is not an image object.
    if (!imageStorageKeyPattern.test(o.key)) continue;
    examined += 1;
    batch.push({ key: o.key, size: o.size });
    if (batch.length >= lookupBatch) await judge();
  }
  await judge();
  const staged = await store.purgeStaged(before, dryRun);
  // Every run leaves one record of what it did, whether or not it found anything.
  await db.asSystem(
    {
      name: 'objects.sweep',
      reason:
        `${dryRun ? 'dry run: would remove' : 'removed'} ${unreferenced} unreferenced image ` +
        `objects (${unreferencedBytes} bytes) of ${examined} examined and ${staged} abandoned uploads`,
    },
    async () => {},
  );
  return { examined, unreferenced, unreferencedBytes, staged, dryRun };
}
