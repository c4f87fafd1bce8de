import type { Queryable } from '../../platform/db/index.ts';
import type { FieldCodec, RowPlace } from './codec.ts';
import { legacyText } from './legacy-plaintext.ts';
import type { EncryptedColumn } from './registry.ts';

/**
 * Opens the listed fields of one stored row (by the caller's own names, e.g. API field names):
 * each from its ciphertext, or — while the row still holds one from before the column was
 * encrypted — from its legacy plaintext, as the same text the ciphertext would give. Fields not
 * listed are never opened; a field with neither is null. One key lookup for the whole row.
 * @example await openFields(codec, tx, { orgId, table: 'clinical.diagnoses', rowId }, row, { evidence: evidenceColumn })
 */
export async function openFields<F extends string>(
  codec: FieldCodec,
  q: Queryable,
  place: RowPlace,
  stored_: object,
  fields: Readonly<Record<F, EncryptedColumn>>,
): Promise<Record<F, string | null>> {
  // A repository row (its typed interface) read by column name.
  const stored = stored_ as Readonly<Record<string, unknown>>;
  const out = {} as Record<F, string | null>;
  const sealed: Record<string, Buffer | null> = {};
  const wanted: string[] = [];
  for (const [field, c] of Object.entries(fields) as [F, EncryptedColumn][]) {
    const v = stored[c.column];
    if (Buffer.isBuffer(v)) {
      sealed[c.column] = v;
      wanted.push(c.column);
      continue;
    }
    const old = c.legacy ? stored[c.legacy.column] : undefined;
    out[field] = c.legacy && old !== null && old !== undefined ? legacyText(c.legacy, old) : null;
  }
  if (wanted.length === 0) return out;
  const opened = await codec.decryptRow(q, place, sealed, wanted);
  for (const [field, c] of Object.entries(fields) as [F, EncryptedColumn][])
    if (c.column in sealed) out[field] = opened[c.column] ?? null;
  return out;
}
