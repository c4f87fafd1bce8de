/**
 * The shipped word lists synthetic data is drawn from. Everything here is invented or generic:
 * common given and family names (no real person is meant), example.org/example.com mail
 * domains (RFC 2606), 555-01xx telephone numbers (reserved for fiction), and clinical
 * presentations written for this project. ICD-10-CM codes and medications refer to the
 * shipped code subset (migration 0006) and the shipped medication catalog.
 */

const words = (list: string): readonly string[] => list.split(' ');

export const givenNames: readonly string[] = words(
  'Avery Blake Casey Dana Eden Finley Gray Harper Indigo Jordan Kai Logan Morgan Noel Oakley Parker Quinn Reese Sage Taylor Umber Val Wren Xen Yael Zion Alex Brook Cameron Drew Emery Frankie Hayden Jamie Kendall Lane Marlow Nico Remy Skyler',
);

export const familyNames: readonly string[] = words(
  'Ashdown Birchfield Calloway Dunmore Elmsworth Fairbrook Greystone Hollins Ivesdale Juniper Kettering Larkspur Marchbank Northcote Oakhurst Pembrook Quillfeather Ravensworth Stillwater Thornbury Underhill Valemont Westerly Yarborough Zephyrine Applewood Brightwater Copperfield Driftwood Evergreen Foxglove Goldcrest Hawthorne Ironwood Kingsley Lockridge Moorcroft Nettleton Rosewood Silverton',
);

export const streets = [
  'Maple Avenue',
  'Cedar Lane',
  'Harbor Road',
  'Orchard Street',
  'Willow Way',
  'Summit Drive',
  'Meadow Court',
  'River Bend',
  'Lantern Street',
  'Quarry Road',
  'Beacon Hill Road',
  'Elm Terrace',
] as const;

/** Cities with their state; postal codes are drawn at random and mean nothing. */
export const cities = [
  ['Springfield', 'IL'],
  ['Riverton', 'WY'],
  ['Fairview', 'OR'],
  ['Georgetown', 'TX'],
  ['Franklin', 'TN'],
  ['Clinton', 'MA'],
  ['Salem', 'NH'],
  ['Madison', 'WI'],
  ['Greenville', 'SC'],
  ['Arlington', 'VA'],
] as const;

/** Area codes used with the fictional 555-0100..555-0199 exchange block. */
export const areaCodes = ['202', '312', '415', '503', '617', '720', '808', '919'] as const;

export const mailDomains = ['example.org', 'example.com'] as const;

export const relationships = ['spouse', 'parent', 'sibling', 'child', 'friend', 'partner'] as const;

export const allergyList = [
  'penicillin',
  'sulfonamides',
  'peanuts',
  'latex',
  'shellfish',
  'aspirin',
] as const;

export const planNames = [
  'Bronze PPO',
  'Silver HMO',
  'Gold PPO',
  'Medicare Advantage',
  'Employer Choice',
] as const;

/** The payer every synthetic insurance record names (the demo's payer organization). */
export const syntheticPayerName = 'Demo Mutual Health Plan (synthetic)';

/** Synthetic AI models that "suggest" diagnoses: clearly not real products. */
export const aiModels = [
  { id: 'ward-demo-triage', version: '2026.1.0' },
  { id: 'ward-demo-dx-assist', version: '0.9.3' },
] as const;

/** One medication of a presentation's plan: catalog entry (name + strength) and how to take it. */
export interface MedicationUse {
  readonly name: string;
  readonly strength: string;
  readonly dose: string;
  readonly route: string;
  readonly frequency: string;
}

/** A clinical presentation: what a case records, what is diagnosed and how it is treated. */
export interface Presentation {
  readonly key: string;
  readonly complaint: string;
  readonly symptoms: readonly string[];
  /** The diagnosis a clinician confirms. */
  readonly code: string;
  /** A plausible but wrong code an AI model sometimes suggests (and a clinician rejects). */
  readonly decoy: string;
  readonly chronic: boolean;
  readonly plan: string;
  readonly goals: readonly string[];
  readonly interventions: readonly string[];
  readonly medications: readonly MedicationUse[];
}

const oral = (
  name: string,
  strength: string,
  frequency: string,
  dose = '1 tablet',
): MedicationUse => ({
  name,
  strength,
  dose,
  route: 'oral',
  frequency,
});

export const presentations: readonly Presentation[] = [
  {
    key: 'hypertension',
    complaint: 'Morning headaches and high readings on a home blood pressure cuff',
    symptoms: ['headache', 'dizziness'],
    code: 'I10',
    decoy: 'I11.9',
    chronic: true,
    plan: 'Blood pressure control',
    goals: ['Blood pressure below 130/80 within 3 months'],
    interventions: ['Home blood pressure log', 'Reduce dietary sodium'],
    medications: [
      oral('Lisinopril', '10 mg', 'once daily'),
      oral('Amlodipine', '5 mg', 'once daily'),
    ],
  },
  {
    key: 'type2-diabetes',
    complaint: 'Increased thirst, frequent urination and tiredness for two months',
    symptoms: ['polydipsia', 'polyuria', 'fatigue'],
    code: 'E11.9',
    decoy: 'R73.9',
    chronic: true,
    plan: 'Glycemic control',
    goals: ['HbA1c below 7% within 6 months'],
    interventions: ['Dietary counseling', 'Quarterly HbA1c'],
    medications: [oral('Metformin', '500 mg', 'twice daily with meals')],
  },
  {
    key: 'asthma',
    complaint: 'Wheezing and shortness of breath waking the patient at night',
    symptoms: ['wheezing', 'dyspnea', 'cough'],
    code: 'J45.909',
    decoy: 'J45.901',
    chronic: true,
    plan: 'Asthma control',
    goals: ['No night-time symptoms', 'Rescue inhaler use under twice a week'],
    interventions: ['Inhaler technique review', 'Written asthma action plan'],
    medications: [
      {
        name: 'Albuterol',
        strength: '90 mcg/actuation',
        dose: '2 puffs',
        route: 'inhaled',
        frequency: 'every 4-6 hours as needed',
      },
      oral('Montelukast', '10 mg', 'once daily at bedtime'),
    ],
  },
  {
    key: 'migraine',
    complaint: 'Recurrent one-sided throbbing headache with nausea',
    symptoms: ['headache', 'photophobia', 'nausea'],
    code: 'G43.909',
    decoy: 'R51.9',
    chronic: true,
    plan: 'Migraine management',
    goals: ['Halve monthly migraine days'],
    interventions: ['Headache diary', 'Sleep hygiene'],
    medications: [
      oral('Sumatriptan', '50 mg', 'at onset, may repeat after 2 hours'),
      oral('Topiramate', '25 mg', 'once daily'),
    ],
  },
  {
    key: 'low-back-pain',
    complaint: 'Lower back pain since lifting boxes last week',
    symptoms: ['back pain', 'muscle spasm'],
    code: 'M54.50',
    decoy: 'M62.830',
    chronic: false,
    plan: 'Back pain recovery',
    goals: ['Return to normal activity within 4 weeks'],
    interventions: ['Physical therapy referral', 'Stay active, avoid bed rest'],
    medications: [oral('Ibuprofen', '400 mg', 'every 8 hours as needed with food')],
  },
  {
    key: 'uti',
    complaint: 'Burning on urination and needing to urinate often',
    symptoms: ['dysuria', 'urinary frequency'],
    code: 'N39.0',
    decoy: 'R10.9',
    chronic: false,
    plan: 'Urinary tract infection treatment',
    goals: ['Symptom resolution within 5 days'],
    interventions: ['Urine culture', 'Increase fluid intake'],
    medications: [oral('Cephalexin', '500 mg', 'every 12 hours for 7 days', '1 capsule')],
  },
  {
    key: 'depression',
    complaint: 'Low mood and poor sleep for several weeks',
    symptoms: ['low mood', 'insomnia', 'fatigue'],
    code: 'F32.9',
    decoy: 'F41.1',
    chronic: true,
    plan: 'Depression care',
    goals: ['PHQ-9 score reduced by half within 12 weeks'],
    interventions: ['Referral to talking therapy', 'Follow-up in 4 weeks'],
    medications: [oral('Sertraline', '50 mg', 'once daily')],
  },
  {
    key: 'gerd',
    complaint: 'Burning chest discomfort after meals and when lying down',
    symptoms: ['heartburn', 'regurgitation'],
    code: 'K21.9',
    decoy: 'R10.13',
    chronic: true,
    plan: 'Reflux management',
    goals: ['Symptom-free for 4 weeks'],
    interventions: ['Raise head of bed', 'Avoid late meals'],
    medications: [oral('Omeprazole', '20 mg', 'once daily before breakfast', '1 capsule')],
  },
  {
    key: 'atrial-fibrillation',
    complaint: 'Irregular heartbeat and palpitations on exertion',
    symptoms: ['palpitations', 'fatigue', 'dyspnea'],
    code: 'I48.91',
    decoy: 'R00.2',
    chronic: true,
    plan: 'Rate control and anticoagulation',
    goals: ['Resting heart rate below 100', 'No thromboembolic events'],
    interventions: ['ECG follow-up', 'Bleeding risk review'],
    medications: [
      oral('Apixaban', '5 mg', 'twice daily'),
      oral('Metoprolol succinate', '50 mg', 'once daily'),
    ],
  },
  {
    key: 'pneumonia',
    complaint: 'Fever and productive cough for four days',
    symptoms: ['fever', 'cough', 'dyspnea'],
    code: 'J18.9',
    decoy: 'J20.9',
    chronic: false,
    plan: 'Community-acquired pneumonia treatment',
    goals: ['Afebrile within 72 hours'],
    interventions: ['Chest X-ray follow-up in 6 weeks', 'Rest and fluids'],
    medications: [
      oral('Azithromycin', '250 mg', 'once daily for 5 days'),
      oral('Acetaminophen', '500 mg', 'every 6 hours as needed'),
    ],
  },
  {
    key: 'hypothyroidism',
    complaint: 'Tiredness, weight gain and feeling cold',
    symptoms: ['fatigue', 'weight gain', 'cold intolerance'],
    code: 'E03.9',
    decoy: 'R53.83',
    chronic: true,
    plan: 'Thyroid replacement',
    goals: ['TSH within reference range in 8 weeks'],
    interventions: ['TSH check in 6-8 weeks'],
    medications: [oral('Levothyroxine', '50 mcg', 'once daily before breakfast')],
  },
  {
    key: 'seizure',
    complaint: 'Witnessed seizure at home, confused afterwards',
    symptoms: ['convulsion', 'confusion'],
    code: 'G40.909',
    decoy: 'R56.9',
    chronic: true,
    plan: 'Seizure control',
    goals: ['Seizure-free for 6 months'],
    interventions: ['EEG', 'Driving safety advice'],
    medications: [oral('Levetiracetam', '500 mg', 'twice daily')],
  },
  {
    key: 'hyperlipidemia',
    complaint: 'Routine review of raised cholesterol on screening',
    symptoms: [],
    code: 'E78.5',
    decoy: 'E78.00',
    chronic: true,
    plan: 'Lipid management',
    goals: ['LDL cholesterol below 100 mg/dL'],
    interventions: ['Lipid panel in 12 weeks', 'Dietary counseling'],
    medications: [oral('Atorvastatin', '20 mg', 'once daily')],
  },
  {
    key: 'knee-osteoarthritis',
    complaint: 'Knee pain when walking and stiffness in the morning',
    symptoms: ['joint pain', 'stiffness'],
    code: 'M17.9',
    decoy: 'M25.561',
    chronic: true,
    plan: 'Knee osteoarthritis care',
    goals: ['Walk 30 minutes without pain'],
    interventions: ['Strengthening exercises', 'Weight management'],
    medications: [oral('Acetaminophen', '500 mg', 'every 6 hours as needed')],
  },
];

/** Every ICD-10-CM code the presentations use (checked against the database before seeding). */
export function presentationCodes(): string[] {
  return [...new Set(presentations.flatMap((p) => [p.code, p.decoy]))].sort();
}

/** Every catalog medication the presentations use, as `name|strength`. */
export function presentationMedications(): string[] {
  return [
    ...new Set(presentations.flatMap((p) => p.medications.map((m) => `${m.name}|${m.strength}`))),
  ].sort();
}
