/** One column of a text table: its heading and how to show a row's cell. */
export interface TableColumn<R> {
  readonly heading: string;
  readonly cell: (row: R) => string | number | null | undefined;
  /** Longest cell shown; longer text is cut with an ellipsis (default 48). */
  readonly max?: number;
  readonly align?: 'left' | 'right';
}

// Control characters (C0, DEL, C1), bidirectional overrides and other format characters: text
// from the database (a display name, a reason) must not move the cursor, recolour the terminal
// or reorder what a privacy officer reads.
// eslint-disable-next-line no-control-regex
const unprintable = /[\u0000-\u001f\u007f-\u009f\p{Cf}]/gu;

/** A cell's text, safe to print on a terminal. */
export function printable(v: string | number | null | undefined): string {
  if (v === null || v === undefined) return '';
  return String(v).replace(unprintable, '\uFFFD');
}

/**
 * Lays rows out as an aligned text table with a heading line, for people at a terminal
 * (machine-readable output is `--json` or `--format csv|jsonl`).
 * @example renderTable([{ heading: 'id', cell: (r) => r.id }], rows)
 */
export function renderTable<R>(columns: readonly TableColumn<R>[], rows: readonly R[]): string {
  const cells = rows.map((r) =>
    columns.map((c) => {
      const text = printable(c.cell(r));
      const max = c.max ?? 48;
      return text.length > max ? `${text.slice(0, max - 1)}…` : text;
    }),
  );
  const widths = columns.map((c, i) =>
    Math.max(c.heading.length, ...cells.map((row) => (row[i] ?? '').length)),
  );
  const line = (values: readonly string[]) =>
    values
      .map((v, i) =>
        columns[i]?.align === 'right' ? v.padStart(widths[i] ?? 0) : v.padEnd(widths[i] ?? 0),
      )
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.heading)), ...cells.map(line)].join('\n');
}
