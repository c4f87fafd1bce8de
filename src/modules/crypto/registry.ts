/** How a plaintext is encoded before encryption. */
export type EncryptedValueKind = 'text' | 'json' | 'date' | 'key';

/** The normalizations blind indexes support (see blind-index.ts). */
export type BlindIndexKind = 'ssn' | 'email' | 'phone' | 'name' | 'mrn' | 'name_dob';

/** One encrypted column: what the rewrap job, `keys status` and the inventory iterate. */
export interface EncryptedColumn {
  readonly schema: string;
  readonly table: string;
  /** A `*_encrypted bytea` column. */
  readonly column: string;
  /** The row id column that, with organization_id, identifies the row (bound into the AAD). */
  readonly idColumn: string;
  readonly kind: EncryptedValueKind;
  /** What the value is, for the inventory in docs/security.md. */
  readonly purpose: string;
  /**
   * The plaintext column this one replaces, while older rows may still hold their value there
   * (free text before migration 0022). A row holds one form or the other, never both: reads
   * fall back to it, `ward keys rewrap` encrypts it as "version 0" and clears it, `ward keys
   * status` counts it, and a shred erases it. Removed when a migration drops the column.
   */
  readonly legacy?: LegacyPlaintext;
}

/** A legacy plaintext column and how its value becomes the text that is encrypted. */
export interface LegacyPlaintext {
  readonly column: string;
  /**
   * Its SQL type: `text` is encrypted as it is; `jsonb` and `text[]` as JSON text, which is
   * what the services write for a `json` column.
   */
  readonly type: 'text' | 'jsonb' | 'text[]';
}

/** One blind-index column: a truncated keyed hash of a normalized value. */
export interface BlindIndexColumn {
  readonly schema: string;
  readonly table: string;
  /** A `*_bidx bytea` column. */
  readonly column: string;
  readonly kind: BlindIndexKind;
  /** Truncated length in bits (a multiple of 8); see `blindIndexBits`. */
  readonly bits: number;
  readonly purpose: string;
  /** The row id column that, with organization_id, identifies the row (the reindex walks it). */
  readonly idColumn: string;
  /**
   * The columns of the same row the index is computed from, in the kind's order (`name_dob`:
   * last name, then birth date). `*_encrypted` columns are decrypted first; any other column
   * is read as text. The reindex job recomputes the index from them.
   */
  readonly sources: readonly string[];
}

/**
 * The registry of encrypted columns and blind indexes. Each module registers the columns its
 * migrations create (in its own `encrypted-columns.ts`, imported by `known-columns.ts`), and
 * the schema check fails when a `*_encrypted` or `*_bidx` column is missing from it.
 */
export class ColumnRegistry {
  readonly #encrypted = new Map<string, EncryptedColumn>();
  readonly #indexes = new Map<string, BlindIndexColumn>();

  /** Registers an encrypted column; registering the same column twice is an error. */
  encrypted(d: EncryptedColumn): EncryptedColumn {
    if (!d.column.endsWith('_encrypted'))
      throw new Error(`${d.column}: encrypted columns are named *_encrypted`);
    if (d.legacy && (d.legacy.column.endsWith('_encrypted') || d.legacy.column === d.column))
      throw new Error(`${d.column}: a legacy plaintext column is not an encrypted one`);
    if (d.legacy && d.legacy.type !== 'text' && d.kind !== 'json')
      throw new Error(`${d.column}: a ${d.legacy.type} legacy column replaces a json column`);
    add(this.#encrypted, d);
    return d;
  }

  /** Registers a blind-index column. */
  blindIndex(d: BlindIndexColumn): BlindIndexColumn {
    if (!d.column.endsWith('_bidx')) throw new Error(`${d.column}: blind indexes are named *_bidx`);
    if (d.bits % 8 !== 0 || d.bits < 16 || d.bits > 256)
      throw new Error(`${d.column}: bits must be a multiple of 8 from 16 to 256`);
    if (d.sources.length !== (d.kind === 'name_dob' ? 2 : 1))
      throw new Error(`${d.column}: a ${d.kind} index is computed from exactly its kind's sources`);
    add(this.#indexes, { ...d, sources: Object.freeze([...d.sources]) });
    return d;
  }

  /** Every registered encrypted column, sorted by table and column. */
  encryptedColumns(): EncryptedColumn[] {
    return sorted(this.#encrypted);
  }

  /** Every registered blind index, sorted by table and column. */
  blindIndexes(): BlindIndexColumn[] {
    return sorted(this.#indexes);
  }
}

function add<T extends { schema: string; table: string; column: string }>(
  map: Map<string, T>,
  d: T,
): void {
  const k = qualifiedColumn(d);
  if (map.has(k)) throw new Error(`${k} is registered twice`);
  map.set(k, Object.freeze({ ...d }));
}

function sorted<T>(map: Map<string, T>): T[] {
  return [...map.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([, v]) => v);
}

/** `schema.table.column`, the key used in cursors and the inventory. */
export function qualifiedColumn(d: { schema: string; table: string; column: string }): string {
  return `${d.schema}.${d.table}.${d.column}`;
}

/** The process-wide registry the product uses; tests may build their own. */
export const columnRegistry = new ColumnRegistry();
