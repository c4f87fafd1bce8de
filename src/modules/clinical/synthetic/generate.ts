import type { PatientPhi, RiskCategory } from '../patient-model.ts';
import { SeededRandom } from './random.ts';
import {
  aiModels,
  allergyList,
  areaCodes,
  cities,
  familyNames,
  givenNames,
  mailDomains,
  planNames,
  presentations,
  relationships,
  streets,
  syntheticPayerName,
  type Presentation,
} from './vocabulary.ts';

export type SyntheticCaseStatus = 'open' | 'in_review' | 'diagnosed' | 'treatment' | 'closed';

/** A diagnosis as generated: a clinician's, or an AI model's suggestion and its fate. */
export interface SyntheticDiagnosis {
  readonly code: string;
  readonly status: 'suggested' | 'confirmed' | 'rejected';
  readonly source: 'clinician' | 'ai';
  readonly model: { readonly id: string; readonly version: string } | null;
  readonly confidence: number | null;
  readonly evidence: Record<string, unknown>;
  readonly reason: string | null;
}

/** A prescription as generated; the medication is a catalog `name|strength` key. */
export interface SyntheticPrescription {
  readonly medication: string;
  readonly dose: string;
  readonly route: string;
  readonly frequency: string;
  readonly startDate: string;
  readonly endDate: string | null;
}

/** A treatment plan as generated. */
export interface SyntheticPlan {
  readonly title: string;
  readonly goals: readonly string[];
  readonly interventions: readonly string[];
  readonly schedule: Record<string, unknown>;
  readonly status: 'draft' | 'active' | 'completed';
  readonly prescriptions: readonly SyntheticPrescription[];
}

/**
 * A case as generated. Staff are abstract picks (`doctor`, `nurse`) that the writer maps onto
 * the organization's real clinicians, so the same seed gives the same data in any database.
 */
export interface SyntheticCase {
  readonly status: SyntheticCaseStatus;
  readonly priority: 'low' | 'normal' | 'high' | 'urgent';
  readonly complaint: string;
  readonly symptoms: readonly string[];
  readonly vitals: Record<string, number>;
  readonly tags: readonly string[];
  readonly doctor: number;
  readonly nurse: number | null;
  readonly diagnoses: readonly SyntheticDiagnosis[];
  readonly plan: SyntheticPlan | null;
}

/** One synthetic patient with everything recorded about them. */
export interface SyntheticPatient {
  readonly mrn: string;
  readonly phi: PatientPhi;
  readonly allergies: readonly string[];
  readonly vitals: Record<string, number>;
  readonly conditions: readonly string[];
  readonly riskCategory: RiskCategory;
  readonly cases: readonly SyntheticCase[];
}

const dayMs = 86_400_000;
const isoDay = (base: string, days: number): string =>
  new Date(Date.parse(`${base}T00:00:00Z`) + days * dayMs).toISOString().slice(0, 10);

/**
 * The MRN of the `index`-th (0-based) patient of a run: the run's prefix and a zero-padded
 * sequence number, so MRNs are readable and a run's patients are easy to find.
 * @example syntheticMrn('DEMO', 0) // 'DEMO-0000001'
 */
export function syntheticMrn(prefix: string, index: number): string {
  return `${prefix}-${String(index + 1).padStart(7, '0')}`;
}

/**
 * Generates the `index`-th patient of the run `seed`. Each patient has its own generator
 * derived from (seed, index), so the result does not depend on batch size, order or on what
 * else was generated: the same seed always gives the same patients.
 */
export function generatePatient(seed: string, mrnPrefix: string, index: number): SyntheticPatient {
  const r = SeededRandom.from(`ward.synthetic.v1/${seed}/patient/${index}`);
  const firstName = r.pick(givenNames);
  const lastName = r.pick(familyNames);
  const dateOfBirth = isoDay('1940-01-01', r.int(0, 30_000));
  const [city, state] = r.pick(cities);
  const phone = fictionalPhone(r);
  const contactName = `${r.pick(givenNames)} ${lastName}`;
  const phi: PatientPhi = {
    firstName,
    lastName,
    dateOfBirth,
    ssn: invalidSsn(r),
    email: `${firstName}.${lastName}.${index + 1}@${r.pick(mailDomains)}`.toLowerCase(),
    phone,
    address: {
      line1: `${r.int(1, 9999)} ${r.pick(streets)}`,
      city,
      state,
      postalCode: r.digits(5),
      country: 'US',
    },
    emergencyContact: {
      name: contactName,
      relationship: r.pick(relationships),
      phone: fictionalPhone(r),
    },
    insurance: {
      payer: syntheticPayerName,
      memberId: `SYN${r.digits(9)}`,
      groupNumber: `GRP-${r.digits(5)}`,
      planName: r.pick(planNames),
    },
  };
  const caseCount = r.chance(0.55) ? 1 : r.chance(0.6) ? 2 : 3;
  const shown = r.sample(presentations, caseCount);
  const chronic = shown.filter((p) => p.chronic).map((p) => p.key);
  const allergies = r.chance(0.7) ? [] : r.sample(allergyList, r.int(1, 2));
  return {
    mrn: syntheticMrn(mrnPrefix, index),
    phi,
    allergies,
    vitals: {
      heightCm: r.int(150, 195),
      weightKg: r.int(50, 120),
    },
    conditions: chronic,
    riskCategory: chronic.length >= 2 ? 'high' : chronic.length === 1 ? 'moderate' : 'low',
    cases: shown.map((p) => generateCase(r, p)),
  };
}

const statusWeights: readonly [SyntheticCaseStatus, number][] = [
  ['open', 0.2],
  ['in_review', 0.15],
  ['diagnosed', 0.2],
  ['treatment', 0.3],
  ['closed', 0.15],
];

function weighted<T>(r: SeededRandom, items: readonly [T, number][]): T {
  let x = r.next();
  for (const [item, w] of items) {
    if (x < w) return item;
    x -= w;
  }
  const last = items.at(-1);
  if (!last) throw new Error('weighted pick from an empty list');
  return last[0];
}

function generateCase(r: SeededRandom, p: Presentation): SyntheticCase {
  const status = weighted(r, statusWeights);
  const vitals = {
    heartRate: r.int(58, 112),
    systolic: r.int(102, 168),
    diastolic: r.int(62, 102),
    temperatureC: Math.round((36.2 + r.next() * 2.4) * 10) / 10,
    respiratoryRate: r.int(12, 24),
    spo2: r.int(91, 100),
  };
  const diagnoses: SyntheticDiagnosis[] = [];
  const model = r.pick(aiModels);
  const evidence = {
    synthetic: true,
    symptoms: [...p.symptoms],
    vitalsConsidered: Object.keys(vitals),
  };
  const decided = status === 'diagnosed' || status === 'treatment' || status === 'closed';
  if (status === 'in_review' || (status === 'open' && r.chance(0.5))) {
    diagnoses.push(ai(r, model, p.code, 'suggested', evidence, null));
  }
  if (decided) {
    if (r.chance(0.7)) {
      // The model got it right and the clinician confirmed it; sometimes it was also offered a
      // decoy the clinician turned down.
      diagnoses.push(ai(r, model, p.code, 'confirmed', evidence, null));
      if (r.chance(0.3))
        diagnoses.push(
          ai(
            r,
            model,
            p.decoy,
            'rejected',
            evidence,
            'Findings fit the confirmed diagnosis better',
          ),
        );
    } else {
      diagnoses.push(
        ai(r, model, p.decoy, 'rejected', evidence, 'Not supported by examination and history'),
      );
      diagnoses.push({
        code: p.code,
        status: 'confirmed',
        source: 'clinician',
        model: null,
        confidence: null,
        evidence: {},
        reason: null,
      });
    }
  }
  const planStatus =
    status === 'treatment'
      ? 'active'
      : status === 'closed'
        ? 'completed'
        : status === 'diagnosed' && r.chance(0.4)
          ? 'draft'
          : null;
  const startDate = isoDay('2025-01-01', r.int(0, 540));
  const plan: SyntheticPlan | null =
    planStatus === null
      ? null
      : {
          title: p.plan,
          goals: p.goals,
          interventions: p.interventions,
          schedule: { followUpWeeks: r.pick([2, 4, 6, 12]), reviewBy: isoDay(startDate, 90) },
          status: planStatus,
          prescriptions: r.sample(p.medications, r.int(1, p.medications.length)).map((m) => ({
            medication: `${m.name}|${m.strength}`,
            dose: m.dose,
            route: m.route,
            frequency: m.frequency,
            startDate,
            endDate: p.chronic ? null : isoDay(startDate, r.int(5, 14)),
          })),
        };
  return {
    status,
    priority: weighted(r, [
      ['low', 0.15],
      ['normal', 0.6],
      ['high', 0.2],
      ['urgent', 0.05],
    ]),
    complaint: p.complaint,
    symptoms: p.symptoms,
    vitals,
    tags: ['synthetic', p.key],
    doctor: r.int(0, 1_000_000),
    nurse: r.chance(0.6) ? r.int(0, 1_000_000) : null,
    diagnoses,
    plan,
  };
}

function ai(
  r: SeededRandom,
  model: { id: string; version: string },
  code: string,
  status: SyntheticDiagnosis['status'],
  evidence: Record<string, unknown>,
  reason: string | null,
): SyntheticDiagnosis {
  const confidence = Math.round((0.55 + r.next() * 0.42) * 1000) / 1000;
  return { code, status, source: 'ai', model, confidence, evidence, reason };
}

/**
 * An SSN-shaped value that no person can hold: area 9xx is never issued as an SSN, and group
 * 00 is never issued at all (which also keeps it outside the ITIN ranges, whose groups start
 * at 50).
 */
function invalidSsn(r: SeededRandom): string {
  return `9${r.digits(2)}-00-${r.digits(4)}`;
}

/** A number in the 555-0100..555-0199 block reserved for fictional use. */
function fictionalPhone(r: SeededRandom): string {
  return `+1 ${r.pick(areaCodes)} 555-01${r.digits(2)}`;
}
