import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import {
  availableEngines,
  createTestDatabase,
  type TestDatabase,
} from '../../../test/helpers/db.ts';
import {
  eventLeafHash,
  leafBytes,
  leafHash,
  leafText,
  leafVersion,
  type EventRow,
} from './leaf.ts';

const base: EventRow = {
  id: 42,
  organization_id: '0b6c7a36-9a55-4a0e-8a3c-6f1f0f3f2b11',
  occurred_at: '2026-11-22T10:00:00.123456Z',
  month: '2026-11',
  tx_id: '123456',
  actor_type: 'user',
  actor_id: null,
  on_behalf_of: null,
  session_id: null,
  ip: '10.0.0.1',
  user_agent: 'agent "quoted" \\ ünï \u0001 \n \u2028',
  action: 'R',
  event_type: 'patient.read',
  entity_type: 'Patient',
  entity_id: 'x',
  patient_id: null,
  phi_fields: '["ssn","date_of_birth"]',
  purpose_of_use: 'TREAT',
  outcome: '0',
  outcome_reason: null,
  request_id: 'req-1',
  metadata: '{"a": 1}',
};

/** The layout the leaf had when it was one JSON.stringify over every element (docs/audit.md). */
function legacyLeaf(e: EventRow): string {
  const head = JSON.stringify([
    leafVersion,
    e.id,
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
    JSON.parse(e.phi_fields) as unknown,
    e.purpose_of_use,
    e.outcome,
    e.outcome_reason,
    e.request_id,
  ]);
  return `${head.slice(0, -1)},${e.metadata}]`;
}

describe('audit leaf', () => {
  test('the leaf is byte-identical to the documented layout, and both hash paths agree', () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ unit: 'grapheme', maxLength: 8 }), { maxLength: 4 }),
        fc.option(fc.string({ unit: 'binary', maxLength: 40 }), { nil: null }),
        fc.option(fc.string({ maxLength: 20 }), { nil: null }),
        (phi, agent, reason) => {
          const e = {
            ...base,
            phi_fields: JSON.stringify(phi),
            user_agent: agent,
            outcome_reason: reason,
          };
          assert.equal(leafText(e), legacyLeaf(e));
          assert.ok(eventLeafHash(e).equals(leafHash(leafBytes(e))));
          assert.ok(eventLeafHash(e, 7).equals(leafHash(leafBytes(e, 7))));
        },
      ),
      { numRuns: 300 },
    );
  });
});

// The sealer takes phi_fields as PostgreSQL's array_to_json text: it must be exactly what
// JSON.stringify makes of the same elements, or leaves would depend on who built them.
for (const engine of availableEngines()) {
  describe(`array_to_json matches JSON.stringify (${engine})`, () => {
    let t: TestDatabase;
    before(async () => {
      t = await createTestDatabase({ engine, migrated: false });
    });
    after(async () => t.close());

    test('for hostile text arrays', async () => {
      const samples: string[][] = [
        [],
        ['ssn'],
        ['a"b', 'c\\d', 'tab\there', 'nl\nx', '\u0001\u001f\u007f', 'ünï €', '\u2028\u2029', '/'],
        ['', ' ', 'emoji 😀', 'null'],
      ];
      for (const arr of samples) {
        const r = await t.db.asAdmin((tx) =>
          tx.query<{ j: string }>('select array_to_json($1::text[])::text as j', [arr]),
        );
        assert.equal(r.rows[0]?.j, JSON.stringify(arr));
      }
    });
  });
}
