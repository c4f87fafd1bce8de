/**
 * PostgreSQL's COPY text format, as the server writes it for `COPY … TO STDOUT`: one row per
 * line, fields separated by a tab, `\N` for NULL, and backslash escapes for the characters
 * that would otherwise break the layout (backslash, newline, carriage return, tab) and for
 * backspace, form feed and vertical tab. Every other character, multi-byte UTF-8 included, is
 * written as is. Decoding is strict: an escape the server never writes is an error rather than
 * a guess, so a decoded field is exactly the text the server rendered or nothing.
 */

const escapes: Readonly<Record<string, string>> = {
  '\\': '\\',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
};

/** Decodes one field's escapes (a field that is not `\N`). */
export function unescapeCopyField(field: string): string {
  let at = field.indexOf('\\');
  if (at < 0) return field;
  let out = '';
  let from = 0;
  while (at >= 0) {
    const c = field[at + 1];
    const decoded = c === undefined ? undefined : escapes[c];
    if (decoded === undefined) {
      throw new Error('unexpected escape sequence in COPY text output');
    }
    out += field.slice(from, at) + decoded;
    from = at + 2;
    at = field.indexOf('\\', from);
  }
  return out + field.slice(from);
}

/** Splits one line (without its newline) into fields: text, or null for `\N`. */
export function parseCopyLine(line: string | Buffer): (string | null)[] {
  const text = typeof line === 'string' ? line : line.toString('utf8');
  const fields: (string | null)[] = text.split('\t');
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i] as string;
    if (f.length > 0 && f.charCodeAt(0) === 92 /* \ */ && f === '\\N') fields[i] = null;
    else if (f.includes('\\')) fields[i] = unescapeCopyField(f);
  }
  return fields;
}

/**
 * Cuts a stream of COPY text chunks into lines. The server sends one row per message, but
 * nothing here depends on it: a row split across chunks is carried over. Newline bytes never
 * occur inside a UTF-8 multi-byte character nor, escaped as `\n`, inside a field, so cutting
 * the bytes at 0x0A before decoding is exact.
 */
export class CopyLineSplitter {
  readonly #onLine: (line: Buffer) => void;
  #rest: Buffer | undefined;

  /** `onLine` gets each row's bytes without the newline, valid only during the call. */
  constructor(onLine: (line: Buffer) => void) {
    this.#onLine = onLine;
  }

  push(chunk: Buffer): void {
    let buf = chunk;
    if (this.#rest) {
      buf = Buffer.concat([this.#rest, chunk]);
      this.#rest = undefined;
    }
    let start = 0;
    let nl = buf.indexOf(10, start);
    while (nl >= 0) {
      this.#onLine(buf.subarray(start, nl));
      start = nl + 1;
      nl = start < buf.length ? buf.indexOf(10, start) : -1;
    }
    // A partial row is copied out: the driver may reuse the chunk's memory after this call.
    if (start < buf.length) this.#rest = Buffer.from(buf.subarray(start));
  }

  /** Throws if the stream ended in the middle of a row. */
  end(): void {
    if (this.#rest) throw new Error('COPY output ended in the middle of a row');
  }
}
