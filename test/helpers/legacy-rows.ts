import { randomUUID } from 'node:crypto';
import type { FieldCodec } from '../../src/modules/crypto/codec.ts';
import type { Database } from '../../src/platform/db/index.ts';

/** The ids of one organization's rows written the way a release before migration 0022 left them. */
export interface LegacyRecord {
  readonly caseId: string;
  readonly suggestedId: string;
  readonly rejectedId: string;
  readonly planId: string;
  readonly breakGlassId: string;
  readonly taskId: string;
  readonly alertId: string;
  /** The free text stored in plaintext, as the API returns it. */
  readonly values: ReturnType<typeof legacyValues>;
  /** How many legacy plaintext values the rows hold. */
  readonly count: number;
}

/** The free text of a legacy record, distinct per label. */
export function legacyValues(label: string) {
  return {
    complaint: `Fell at home (${label})`,
    symptoms: [`faint ${label}`, { since: `Tuesday ${label}`, severity: 3 }],
    tags: [`legacy-${label}`, 'falls'],
    evidence: { quote: `nurse note on ${label}`, score: 0.25 },
    rejectedEvidence: { quote: `older note on ${label}` },
    reason: `Not supported by the examination of ${label}`,
    title: `Falls plan for ${label}`,
    goals: [`${label} walks unaided`],
    interventions: [`physiotherapy for ${label}`, { visit: 'weekly' }],
    schedule: { review: `call ${label}'s daughter`, days: 14 },
    breakGlass: `Patient ${label} unconscious, history needed at once`,
    summary: `Break-glass on ${label}: unconscious, history needed`,
    reviewNotes: `Spoke with ${label}'s family doctor`,
    alertNotes: `Access to ${label} was justified`,
  };
}

/**
 * Writes, as the database owner, a case, two diagnoses, a plan, a break-glass with its closed
 * review task and resolved alert whose free text sits in the plaintext columns (what an upgrade
 * to 0022 leaves behind). Only the chief complaint is ciphertext: it always was.
 */
export async function insertLegacyRecord(
  db: Database,
  codec: FieldCodec,
  o: { orgId: string; patientId: string; doctorId: string; auditorId: string; label: string },
): Promise<LegacyRecord> {
  const v = legacyValues(o.label);
  const ids = {
    caseId: randomUUID(),
    suggestedId: randomUUID(),
    rejectedId: randomUUID(),
    planId: randomUUID(),
    breakGlassId: randomUUID(),
    taskId: randomUUID(),
    alertId: randomUUID(),
  };
  const complaint = await db.withContext({ orgId: o.orgId, actorType: 'user' }, (tx) =>
    codec.encrypt(
      tx,
      {
        orgId: o.orgId,
        table: 'clinical.medical_cases',
        column: 'chief_complaint_encrypted',
        rowId: ids.caseId,
      },
      v.complaint,
    ),
  );
  await db.asAdmin(async (tx) => {
    await tx.query(
      `insert into clinical.medical_cases (organization_id, id, patient_id, chief_complaint_encrypted,
                                           symptoms, tags, assigned_clinicians, opened_by)
       values ($1, $2, $3, $4, $5::jsonb, $6::text[], array[$7::uuid], $7)`,
      [o.orgId, ids.caseId, o.patientId, complaint, JSON.stringify(v.symptoms), v.tags, o.doctorId],
    );
    await tx.query(
      `insert into clinical.diagnoses (organization_id, id, case_id, patient_id, icd10_version, icd10_code,
                                       status, source, model_id, model_version, confidence, evidence,
                                       suggested_by, decided_by, decided_at, decision_reason)
       values ($1, $2, $4, $5, '2026', 'R55', 'suggested', 'ai', 'legacy-model', '1', 0.25, $6::jsonb,
               $7, null, null, null),
              ($1, $3, $4, $5, '2026', 'I95.9', 'rejected', 'ai', 'legacy-model', '1', 0.5, $8::jsonb,
               $7, $7, now(), $9)`,
      [
        o.orgId,
        ids.suggestedId,
        ids.rejectedId,
        ids.caseId,
        o.patientId,
        JSON.stringify(v.evidence),
        o.doctorId,
        JSON.stringify(v.rejectedEvidence),
        v.reason,
      ],
    );
    await tx.query(
      `insert into clinical.treatment_plans (organization_id, id, case_id, patient_id, title, goals,
                                             interventions, schedule, author_id)
       values ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8::jsonb, $9)`,
      [
        o.orgId,
        ids.planId,
        ids.caseId,
        o.patientId,
        v.title,
        JSON.stringify(v.goals),
        JSON.stringify(v.interventions),
        JSON.stringify(v.schedule),
        o.doctorId,
      ],
    );
    // An emergency session that has ended, so it opens nothing now.
    await tx.query(
      `insert into ward.break_glass_sessions (organization_id, id, user_id, patient_id, reason,
                                              started_at, expires_at)
       values ($1, $2, $3, $4, $5, now() - interval '2 hours', now() - interval '1 hour')`,
      [o.orgId, ids.breakGlassId, o.doctorId, o.patientId, v.breakGlass],
    );
    await tx.query(
      `insert into ward.review_tasks (organization_id, id, kind, subject_id, subject_user_id, summary,
                                      status, resolution, notes, closed_by, closed_at)
       values ($1, $2, 'break_glass_review', $3, $4, $5, 'closed', 'appropriate', $6, $7, now())`,
      [o.orgId, ids.taskId, ids.breakGlassId, o.doctorId, v.summary, v.reviewNotes, o.auditorId],
    );
    await tx.query(
      `insert into ward.security_alerts (organization_id, id, kind, severity, subject_user_id, details,
                                         status, resolved_by, resolved_at, resolution, notes)
       values ($1, $2, 'access.break_glass', 'high', $3, '{}', 'resolved', $4, now(), 'benign', $5)`,
      [o.orgId, ids.alertId, o.doctorId, o.auditorId, v.alertNotes],
    );
  });
  // symptoms, tags; 1 + 2 evidence/reason; 4 plan fields; reason; summary, notes; alert notes.
  return { ...ids, values: v, count: 13 };
}
