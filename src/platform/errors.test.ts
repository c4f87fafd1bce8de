import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createTestDatabase, type TestDatabase } from '../../test/helpers/db.ts';
import { translateDbError } from './errors.ts';

// NUL is refused at the HTTP edge; whatever still brings one to PostgreSQL (a header, a CLI
// argument) must be a client error, not a 500 `internal`.
describe('translateDbError', () => {
  let t: TestDatabase;
  before(async () => {
    t = await createTestDatabase({ migrated: false });
  });
  after(() => t.close());

  const failure = async (sql: string, params: unknown[]) => {
    try {
      await t.db.asAdmin((tx) => tx.query(sql, params));
    } catch (e) {
      return e;
    }
    assert.fail(`${sql} succeeded`);
  };

  test('NUL in text (22021) and \\u0000 in jsonb (22P05) are validation_failed', async () => {
    for (const [sql, params] of [
      ['select $1::text as v', ['a\u0000b']],
      ['select $1::jsonb as v', ['{"a":"\\u0000"}']],
    ] as const) {
      const e = translateDbError(await failure(sql, [...params]));
      assert.equal(e.code, 'validation_failed', sql);
      assert.equal(e.status, 400);
    }
  });
});
