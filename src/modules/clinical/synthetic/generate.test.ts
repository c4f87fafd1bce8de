import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { normalizeForIndex } from '../../crypto/blind-index.ts';
import { isIsoDate } from '../patient-fields.ts';
import { generatePatient, syntheticMrn } from './generate.ts';
import { SeededRandom } from './random.ts';

describe('synthetic patients', () => {
  test('the same seed and index give the same patient; another seed does not', () => {
    assert.deepEqual(generatePatient('s1', 'P', 7), generatePatient('s1', 'P', 7));
    assert.notDeepEqual(generatePatient('s1', 'P', 7).phi, generatePatient('s2', 'P', 7).phi);
    assert.notDeepEqual(generatePatient('s1', 'P', 7).phi, generatePatient('s1', 'P', 8).phi);
  });

  test('the generator sequence is fixed (a change here changes every seeded dataset)', () => {
    const r = SeededRandom.from('fixed');
    const first = [r.int(0, 999), r.int(0, 999), r.int(0, 999)];
    const again = SeededRandom.from('fixed');
    assert.deepEqual([again.int(0, 999), again.int(0, 999), again.int(0, 999)], first);
    assert.equal(syntheticMrn('DEMO', 0), 'DEMO-0000001');
  });

  test('identifiers are unmistakably fictional and valid for search', () => {
    for (let i = 0; i < 300; i++) {
      const p = generatePatient('fiction', 'F', i);
      assert.match(p.phi.ssn ?? '', /^9\d\d-00-\d{4}$/, 'SSN in the never-issued 9xx-00 range');
      assert.match(p.phi.phone ?? '', /^\+1 \d{3} 555-01\d\d$/, 'phone in 555-0100..0199');
      assert.match(p.phi.email ?? '', /@example\.(org|com)$/);
      assert.match(p.phi.emergencyContact?.phone ?? '', /555-01\d\d$/);
      assert.ok(isIsoDate(p.phi.dateOfBirth));
      normalizeForIndex('ssn', p.phi.ssn ?? '');
      normalizeForIndex('phone', p.phi.phone ?? '');
      assert.ok(p.cases.length >= 1 && p.cases.length <= 3);
      for (const c of p.cases) {
        for (const d of c.diagnoses) {
          if (d.source === 'ai') {
            assert.ok(d.model && d.confidence !== null && d.confidence >= 0 && d.confidence <= 1);
          }
          if (d.status === 'rejected') assert.ok((d.reason ?? '').length >= 3);
        }
        if (c.status === 'treatment' || c.status === 'closed') assert.ok(c.plan);
      }
    }
  });

  test('a run has AI suggestions in every state and plans with prescriptions', () => {
    const all = Array.from({ length: 200 }, (_, i) => generatePatient('mix', 'M', i));
    const diagnoses = all.flatMap((p) => p.cases.flatMap((c) => c.diagnoses));
    for (const s of ['suggested', 'confirmed', 'rejected'] as const)
      assert.ok(
        diagnoses.some((d) => d.source === 'ai' && d.status === s),
        `an AI ${s}`,
      );
    assert.ok(diagnoses.some((d) => d.source === 'clinician'));
    const plans = all.flatMap((p) => p.cases.flatMap((c) => (c.plan ? [c.plan] : [])));
    assert.ok(plans.length > 0 && plans.every((p) => p.prescriptions.length >= 1));
  });
});
