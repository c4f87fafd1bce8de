import { firstRow, type Queryable } from '../../platform/db/index.ts';

/** A stored medical image: metadata, and the content columns once the file is uploaded. */
export interface ImageRow {
  id: string;
  organization_id: string;
  case_id: string;
  patient_id: string;
  modality: string;
  body_part: string | null;
  study_uid: string | null;
  series_uid: string | null;
  instance_uid: string | null;
  content_type: string;
  size_bytes: number | null;
  sha256: Buffer | null;
  storage_key: string | null;
  content_key_encrypted: Buffer | null;
  content_stored_at: Date | null;
  uploaded_by: string | null;
  created_at: Date;
  sort_at: string;
}

const columns = `id, organization_id, case_id, patient_id, modality, body_part, study_uid, series_uid,
  instance_uid, content_type, size_bytes::float8 as size_bytes, sha256, storage_key,
  content_key_encrypted, content_stored_at, uploaded_by, created_at, created_at::text as sort_at`;

/** Inserts an image's metadata (no content yet). */
export async function insertImage(
  q: Queryable,
  i: {
    orgId: string;
    caseId: string;
    patientId: string;
    modality: string;
    bodyPart: string | null;
    studyUid: string | null;
    seriesUid: string | null;
    instanceUid: string | null;
    contentType: string;
  },
): Promise<ImageRow> {
  const r = await q.query<ImageRow>(
    `insert into clinical.medical_images (organization_id, id, case_id, patient_id, modality, body_part,
                                          study_uid, series_uid, instance_uid, content_type)
     values ($1, gen_random_uuid(), $2, $3, $4, $5, $6, $7, $8, $9)
     returning ${columns}`,
    [
      i.orgId,
      i.caseId,
      i.patientId,
      i.modality,
      i.bodyPart,
      i.studyUid,
      i.seriesUid,
      i.instanceUid,
      i.contentType,
    ],
  );
  return firstRow(r);
}

/** One image of the organization, or undefined; `lock` takes the row lock. */
export async function findImage(
  q: Queryable,
  orgId: string,
  id: string,
  lock = false,
): Promise<ImageRow | undefined> {
  const r = await q.query<ImageRow>(
    `select ${columns} from clinical.medical_images where organization_id = $1 and id = $2${lock ? ' for update' : ''}`,
    [orgId, id],
  );
  return r.rows[0];
}

/** Records an image's uploaded content; undefined when it already has content. */
export async function storeContent(
  q: Queryable,
  orgId: string,
  id: string,
  c: { size: number; sha256: Buffer; storageKey: string; contentKey: Buffer; uploadedBy: string },
): Promise<ImageRow | undefined> {
  const r = await q.query<ImageRow>(
    `update clinical.medical_images
        set size_bytes = $3, sha256 = $4, storage_key = $5, content_key_encrypted = $6,
            content_stored_at = now(), uploaded_by = $7
      where organization_id = $1 and id = $2 and storage_key is null
      returning ${columns}`,
    [orgId, id, c.size, c.sha256, c.storageKey, c.contentKey, c.uploadedBy],
  );
  return r.rows[0];
}

/** A page of a case's images in creation order after the cursor (`limit` includes look-ahead). */
export async function listCaseImages(
  q: Queryable,
  orgId: string,
  caseId: string,
  after: { createdAt: string; id: string } | undefined,
  limit: number,
): Promise<ImageRow[]> {
  const r = await q.query<ImageRow>(
    `select ${columns} from clinical.medical_images
      where organization_id = $1 and case_id = $2
        and ($3::timestamptz is null or (created_at, id) > ($3::timestamptz, $4::uuid))
      order by created_at, id limit $5`,
    [orgId, caseId, after?.createdAt ?? null, after?.id ?? null, limit],
  );
  return r.rows;
}
