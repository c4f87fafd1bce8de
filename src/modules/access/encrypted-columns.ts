import { columnRegistry, type EncryptedColumn } from '../crypto/registry.ts';

// Free text people write about emergency access (migration 0022). A break-glass reason names a
// patient's situation ("unconscious after a fall, no relative reachable"), the review task
// quotes it, and reviewers' and security staff's notes discuss it: all of it is encrypted like
// clinical free text. Each column replaces a plaintext column that rows written before 0022
// still fill until `ward keys rewrap` has moved them.
const accessText = (
  table: string,
  column: string,
  legacy: string,
  purpose: string,
): EncryptedColumn =>
  columnRegistry.encrypted({
    schema: 'ward',
    table,
    column,
    idColumn: 'id',
    kind: 'text',
    purpose,
    legacy: { column: legacy, type: 'text' },
  });

/** Why a break-glass session was started (quoted by its review task, shown by the break-glass report). */
export const breakGlassReasonColumn = accessText(
  'break_glass_sessions',
  'reason_encrypted',
  'reason',
  'Break-glass reason (often names the patient and their condition)',
);

/** A privacy review task's summary (quotes the break-glass reason) and the reviewer's notes. */
export const reviewTaskColumns = {
  summary: accessText(
    'review_tasks',
    'summary_encrypted',
    'summary',
    'Review task summary (quotes the break-glass reason)',
  ),
  notes: accessText(
    'review_tasks',
    'notes_encrypted',
    'notes',
    "Privacy reviewer's notes on an emergency access",
  ),
} as const;

/** The notes security staff write when resolving an alert. */
export const alertNotesColumn = accessText(
  'security_alerts',
  'notes_encrypted',
  'notes',
  'Security alert resolution notes (free text about the access)',
);
