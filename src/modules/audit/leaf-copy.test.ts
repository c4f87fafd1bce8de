import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { parseCopyLine } from '../../platform/db/index.ts';
import { CopyLeafHasher } from './leaf-copy.ts';
import { eventLeafHash, eventRowFromCopy, type EventRow } from './leaf.ts';

/** PostgreSQL's COPY text rendering of one field. */
function copyField(v: string | null): string {
  if (v === null) return '\\N';
  const named: Record<string, string> = {
    '\\': '\\\\',
    '\b': '\\b',
    '\f': '\\f',
    '\n': '\\n',
    '\r': '\\r',
    '\t': '\\t',
    '\v': '\\v',
  };
  return v.replace(/[\\\b\f\n\r\t\v]/g, (c) => named[c] ?? c);
}

/** The COPY line of a row in `eventRowCopyColumns` order. */
function copyLine(e: EventRow): Buffer {
  const fields = [
    String(e.id),
    e.organization_id,
    e.occurred_at,
    e.tx_id,
    e.actor_type,
    e.actor_id,
    e.on_behalf_of,
    e.session_id,
    e.ip,
    e.user_agent,
    e.action,
    e.event_type,
    e.entity_type,
    e.entity_id,
    e.patient_id,
    e.phi_fields,
    e.purpose_of_use,
    e.outcome,
    e.outcome_reason,
    e.request_id,
    e.metadata,
  ];
  return Buffer.from(fields.map(copyField).join('\t'), 'utf8');
}

const text = fc.oneof(
  fc.constantFrom(
    'Patient',
    'TREAT',
    'a"b',
    'c\\d',
    'tab\there',
    'nl\nx',
    '\u0001',
    'ünï €',
    '😀',
    '\u2028',
    '\\N',
    'null',
    '',
  ),
  fc.string({ unit: 'grapheme', maxLength: 12 }),
);
const maybe = fc.option(text, { nil: null });

const row: fc.Arbitrary<EventRow> = fc.record({
  id: fc.oneof(
    fc.integer({ min: 1, max: 10_000 }),
    fc.constant(999_999_999_999_999),
    fc.constant(2 ** 53 + 2),
  ),
  organization_id: fc.uuid(),
  occurred_at: fc.constantFrom('2026-11-22T10:00:00.123456Z', '2027-01-01T00:00:00.000000Z'),
  month: fc.constant(''),
  tx_id: fc.constantFrom('1', '754652', '18446744073709551615'),
  actor_type: fc.constantFrom('user', 'agent', 'system'),
  actor_id: fc.option(fc.uuid(), { nil: null }),
  on_behalf_of: fc.option(fc.uuid(), { nil: null }),
  session_id: fc.option(fc.uuid(), { nil: null }),
  ip: fc.constantFrom(null, '10.0.0.1', '::1', '192.168.0.0/24'),
  user_agent: maybe,
  action: fc.constantFrom('C', 'R', 'U', 'D', 'E'),
  event_type: text,
  entity_type: maybe,
  entity_id: maybe,
  patient_id: fc.option(fc.uuid(), { nil: null }),
  phi_fields: fc.array(text, { maxLength: 3 }).map((a) => JSON.stringify(a)),
  purpose_of_use: maybe,
  outcome: fc.constantFrom('0', '4', '8', '12'),
  outcome_reason: maybe,
  request_id: maybe,
  metadata: fc.dictionary(text, text, { maxKeys: 2 }).map((m) => JSON.stringify(m)),
});

describe('leaf hashes from COPY bytes', () => {
  test('equal the row path for any content, clean or needing escapes', () => {
    const hasher = new CopyLeafHasher();
    fc.assert(
      fc.property(row, (e) => {
        const line = copyLine(e);
        const exact = eventRowFromCopy(parseCopyLine(line));
        const d = hasher.digest(line);
        assert.equal(d.id, exact.id);
        assert.equal(d.month, exact.month);
        assert.equal(d.month, e.occurred_at.slice(0, 7));
        assert.ok(d.hash.equals(eventLeafHash(exact)));
      }),
      { numRuns: 1000 },
    );
  });

  test('given the organization, lines without its column hash to the same leaf', () => {
    fc.assert(
      fc.property(row, (e) => {
        const full = copyLine(e);
        const fields = full.toString('utf8').split('\t');
        const short = Buffer.from([fields[0], ...fields.slice(2)].join('\t'), 'utf8');
        const exact = eventLeafHash(eventRowFromCopy(parseCopyLine(full)));
        const d = new CopyLeafHasher(e.organization_id).digest(short);
        assert.equal(d.id, e.id);
        assert.equal(d.month, e.occurred_at.slice(0, 7));
        assert.ok(d.hash.equals(exact));
      }),
      { numRuns: 1000 },
    );
  });

  test('an organization not spelled as the server spells it is refused', () => {
    const id = '3f6b2c1e-9a4d-4e8f-b2a1-7c5d9e0f1a2b';
    assert.doesNotThrow(() => new CopyLeafHasher(id));
    for (const bad of [id.toUpperCase(), `{${id}}`, id.replaceAll('-', ''), `${id} `, '']) {
      assert.throws(() => new CopyLeafHasher(bad), /canonical/);
    }
  });

  test('a long line grows the scratch buffer without changing the hash', () => {
    const hasher = new CopyLeafHasher();
    const e = fc.sample(row, { numRuns: 1, seed: 1 })[0] as EventRow;
    const big = { ...e, metadata: JSON.stringify({ k: 'x'.repeat(20_000) }) };
    const line = copyLine(big);
    assert.ok(
      hasher.digest(line).hash.equals(eventLeafHash(eventRowFromCopy(parseCopyLine(line)))),
    );
  });

  test('digests kept across many slabs keep their own hashes', () => {
    // Hashes live in shared slabs of 4096; one written later must never overwrite an earlier.
    // Clean rows (nothing to escape) all take the fast path, which is the one using slabs.
    const clean = (i: number): EventRow => ({
      id: i + 1,
      organization_id: '3f6b2c1e-9a4d-4e8f-b2a1-7c5d9e0f1a2b',
      occurred_at: '2026-11-22T10:00:00.123456Z',
      month: '',
      tx_id: String(1000 + Math.floor(i / 7)),
      actor_type: 'user',
      actor_id: '9d1c7a52-0b3e-4f6a-8c2d-5e4f3a2b1c0d',
      on_behalf_of: null,
      session_id: null,
      ip: '10.0.0.1',
      user_agent: 'bench',
      action: 'R',
      event_type: 'patient.read',
      entity_type: 'Patient',
      entity_id: `patient-${i}`,
      patient_id: null,
      phi_fields: '["ssn"]',
      purpose_of_use: 'TREAT',
      outcome: '0',
      outcome_reason: null,
      request_id: `req-${i}`,
      metadata: `{"n": ${i}}`,
    });
    const hasher = new CopyLeafHasher();
    const n = 10_000;
    const lines = Array.from({ length: n }, (_, i) => copyLine(clean(i)));
    const digests = lines.map((line) => hasher.digest(line));
    const slabs = new Set(digests.map((d) => d.hash.buffer));
    assert.equal(slabs.size, Math.ceil(n / 4096), 'every digest took the fast path, over 3 slabs');
    for (const [i, line] of lines.entries()) {
      const exact = eventLeafHash(eventRowFromCopy(parseCopyLine(line)));
      assert.ok(digests[i]?.hash.equals(exact), `digest ${i}`);
    }
  });
});
