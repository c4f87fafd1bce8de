import { createHash } from 'node:crypto';

/**
 * A small deterministic pseudo-random generator (sfc32, seeded from SHA-256 of a label) for
 * synthetic data: the same label always yields the same sequence, on every platform. It is
 * not a source of secrets — passwords and keys come from `node:crypto` randomBytes.
 */
export class SeededRandom {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  private constructor(state: readonly [number, number, number, number]) {
    [this.#a, this.#b, this.#c, this.#d] = state;
    // Discard the first outputs: sfc32 mixes its state in the first few rounds.
    for (let i = 0; i < 12; i++) this.next();
  }

  /**
   * A generator for `label`; independent labels give independent sequences.
   * @example SeededRandom.from('seed-42/patient/7').int(1, 3)
   */
  static from(label: string): SeededRandom {
    const h = createHash('sha256').update(label, 'utf8').digest();
    return new SeededRandom([
      h.readUInt32LE(0),
      h.readUInt32LE(4),
      h.readUInt32LE(8),
      h.readUInt32LE(12),
    ]);
  }

  /** The next value in [0, 1). */
  next(): number {
    const a = this.#a;
    const b = this.#b;
    const c = this.#c;
    const d = this.#d;
    const t = (((a + b) | 0) + d) | 0;
    this.#d = (d + 1) | 0;
    this.#a = b ^ (b >>> 9);
    this.#b = (c + (c << 3)) | 0;
    const r = (c << 21) | (c >>> 11);
    this.#c = (r + t) | 0;
    return (t >>> 0) / 4294967296;
  }

  /** An integer in [min, max], both inclusive. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** One element of a non-empty list. */
  pick<T>(items: readonly T[]): T {
    const item = items[Math.floor(this.next() * items.length)];
    if (item === undefined) throw new Error('pick from an empty list');
    return item;
  }

  /** `n` distinct elements of a list (all of them when it is shorter), in list order. */
  sample<T>(items: readonly T[], n: number): T[] {
    const chosen = new Set<number>();
    const want = Math.min(n, items.length);
    while (chosen.size < want) chosen.add(Math.floor(this.next() * items.length));
    return [...chosen].sort((x, y) => x - y).map((i) => items[i] as T);
  }

  /** Digits as a string of exactly `length` characters. */
  digits(length: number): string {
    let s = '';
    for (let i = 0; i < length; i++) s += String(this.int(0, 9));
    return s;
  }
}
