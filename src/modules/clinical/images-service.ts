import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Tx } from '../../platform/db/index.ts';
import { WardError } from '../../platform/errors.ts';
import type { ObjectStore } from '../../platform/objects/object-store.ts';
import type { FieldCodec, FieldPlace } from '../crypto/index.ts';
import {
  newObjectKey,
  objectSealer,
  openObject,
  type SealedObjectInfo,
} from '../crypto/object-cipher.ts';
import type { CaseRow } from './cases-repo.ts';
import { imageContentKeyColumn } from './encrypted-columns.ts';
import { isImageContentType, signatureCheck, type ImageContentType } from './image-formats.ts';
import * as repo from './images-repo.ts';

/** What the image routes need besides the request. */
export interface ImageDeps {
  readonly codec: FieldCodec;
  readonly store: ObjectStore;
  /** Largest accepted upload in bytes. */
  readonly maxBytes: number;
  /** Longest wait for the next bytes of an upload before it is refused (default 60 s). */
  readonly idleMs?: number;
  /**
   * Longest a download may go without the client taking a byte before its response is
   * aborted (default 60 s).
   */
  readonly downloadIdleMs?: number;
}

/**
 * Passes `source` through, failing with `request_timeout` when no part arrives for `ms`: an
 * upload runs outside any transaction for as long as the client takes, so without this a
 * client that stops sending would hold its socket and staged file open for ever.
 */
export async function* idleLimit(
  source: AsyncIterable<Buffer | string>,
  ms: number,
): AsyncGenerator<Buffer | string> {
  const it = source[Symbol.asyncIterator]();
  // One timer, re-armed whenever a wait starts; it fails only a wait, never a slow consumer.
  let stall: ((e: WardError) => void) | undefined;
  const timer = setTimeout(() => {
    stall?.(new WardError('request_timeout', `No bytes of the upload arrived for ${ms} ms`));
  }, ms);
  try {
    for (;;) {
      timer.refresh();
      const next = await new Promise<IteratorResult<Buffer | string>>((resolve, reject) => {
        stall = reject;
        it.next().then(resolve, reject);
      });
      stall = undefined;
      if (next.done) return;
      yield next.value;
    }
  } finally {
    clearTimeout(timer);
    // Not awaited: after a stall the source's own next() is still pending.
    void it.return?.().catch(() => undefined);
  }
}

/** What creating an image's metadata takes (no PHI beyond DICOM identifiers). */
export interface ImageCreate {
  modality: string;
  contentType: ImageContentType;
  bodyPart?: string;
  studyUid?: string;
  seriesUid?: string;
  instanceUid?: string;
}

/** The metadata fields an image view discloses (for the audit event). */
export const imageMetadataFields = [
  'modality',
  'bodyPart',
  'studyUid',
  'seriesUid',
  'instanceUid',
  'contentType',
  'sizeBytes',
  'sha256',
] as const;

/** The API view of an image's metadata. */
export function imageView(r: repo.ImageRow) {
  return {
    id: r.id,
    caseId: r.case_id,
    patientId: r.patient_id,
    modality: r.modality,
    bodyPart: r.body_part,
    studyUid: r.study_uid,
    seriesUid: r.series_uid,
    instanceUid: r.instance_uid,
    contentType: r.content_type,
    contentStored: r.storage_key !== null,
    sizeBytes: r.size_bytes,
    sha256: r.sha256?.toString('hex') ?? null,
    uploadedBy: r.uploaded_by,
    contentStoredAt: r.content_stored_at?.toISOString() ?? null,
    createdAt: r.created_at.toISOString(),
  };
}

/** Creates an image's metadata on an open case; the content is uploaded separately. */
export async function createImage(tx: Tx, c: CaseRow, input: ImageCreate): Promise<repo.ImageRow> {
  if (c.status === 'closed') throw new WardError('conflict', 'The case is closed');
  return repo.insertImage(tx, {
    orgId: c.organization_id,
    caseId: c.id,
    patientId: c.patient_id,
    modality: input.modality,
    bodyPart: input.bodyPart ?? null,
    studyUid: input.studyUid ?? null,
    seriesUid: input.seriesUid ?? null,
    instanceUid: input.instanceUid ?? null,
    contentType: input.contentType,
  });
}

/** Loads an image of the organization or fails with a 404 (another tenant's id included). */
export async function loadImage(
  tx: Tx,
  orgId: string,
  id: string,
  lock = false,
): Promise<repo.ImageRow> {
  const r = await repo.findImage(tx, orgId, id, lock);
  if (!r) throw new WardError('not_found');
  return r;
}

/** What a received upload left in the store, waiting for its row to commit. */
export interface ReceivedContent {
  readonly storageKey: string;
  readonly info: SealedObjectInfo;
  /** The content key (zeroed once sealed into the row, or when the upload is discarded). */
  readonly key: Buffer;
}

/**
 * Checks that an upload may start: the image has no content yet, the request's content type
 * is the one its metadata declared, and a declared length is within the limit (413 before a
 * byte is read).
 */
export function checkUpload(
  image: repo.ImageRow,
  contentType: string | undefined,
  contentLength: string | undefined,
  maxBytes: number,
): void {
  if (image.storage_key !== null)
    throw new WardError('conflict', 'The image content was already uploaded', {
      reason: 'content_stored',
    });
  const type = (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (!isImageContentType(type) || type !== image.content_type)
    throw new WardError(
      'unsupported_media_type',
      `Upload the content as ${image.content_type}, the type its metadata declares`,
    );
  if (contentLength !== undefined && Number(contentLength) > maxBytes)
    throw new WardError('payload_too_large', `The file is larger than ${maxBytes} bytes`);
}

const uuidPart = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';

/**
 * The shape of every storage key an upload writes, `<organization>/<image>/<random uuid>`: the
 * sweep judges nothing else, so a file that is not an image object is never removed.
 */
export const imageStorageKeyPattern = new RegExp(`^${uuidPart}/${uuidPart}/${uuidPart}$`);

/**
 * Streams an upload into the object store: signature check, size limit and chunked
 * encryption with a fresh content key, written under a new key that no row references yet.
 * Nothing but one chunk is held in memory. On failure the staged bytes are removed.
 */
export async function receiveContent(
  deps: ImageDeps,
  image: repo.ImageRow,
  body: AsyncIterable<Buffer | string>,
): Promise<ReceivedContent> {
  const key = newObjectKey();
  const storageKey = `${image.organization_id}/${image.id}/${randomUUID()}`;
  const sealer = objectSealer(
    key,
    { orgId: image.organization_id, objectId: image.id },
    { maxBytes: deps.maxBytes },
  );
  const writer = await deps.store.create(storageKey);
  // Stop reading on failure without destroying the request: the client then gets the 413 or
  // 415 answer instead of a reset connection (the route closes the connection afterwards).
  const source = body instanceof Readable ? body.iterator({ destroyOnReturn: false }) : body;
  try {
    await pipeline(
      idleLimit(source, deps.idleMs ?? 60_000),
      signatureCheck(image.content_type as ImageContentType),
      sealer.transform,
      writer.stream,
    );
    await writer.commit();
    return { storageKey, info: sealer.info(), key };
  } catch (e) {
    key.fill(0);
    await writer.abort();
    await deps.store.remove(storageKey);
    throw e;
  }
}

/** Removes a received object whose row did not commit, and forgets its key. */
export async function discardContent(deps: ImageDeps, r: ReceivedContent): Promise<void> {
  r.key.fill(0);
  await deps.store.remove(r.storageKey);
}

function keyPlace(image: repo.ImageRow): FieldPlace {
  return {
    orgId: image.organization_id,
    table: `${imageContentKeyColumn.schema}.${imageContentKeyColumn.table}`,
    column: imageContentKeyColumn.column,
    rowId: image.id,
  };
}

/** Seals the content key into the row (second transaction of the upload). */
export async function commitContent(
  tx: Tx,
  deps: ImageDeps,
  image: repo.ImageRow,
  r: ReceivedContent,
  uploadedBy: string,
): Promise<repo.ImageRow> {
  const sealed = await deps.codec.encryptKey(tx, keyPlace(image), r.key);
  r.key.fill(0);
  const stored = await repo.storeContent(tx, image.organization_id, image.id, {
    size: r.info.size,
    sha256: r.info.sha256,
    storageKey: r.storageKey,
    contentKey: sealed,
    uploadedBy,
  });
  if (!stored)
    throw new WardError('conflict', 'The image content was already uploaded', {
      reason: 'content_stored',
    });
  return stored;
}

/** An image's content, opened for download. */
export interface ImageContent {
  /**
   * The plaintext, chunk by chunk, each authenticated before it is yielded; the first chunk was
   * authenticated when the content was opened. Iterate once. Ending the iteration, early or
   * with an error, closes the content.
   */
  readonly chunks: AsyncIterable<Buffer>;
  /**
   * Zeroes the content key and releases the stored object (its file handle) at once, even
   * while a read is in flight; iterating further yields nothing authenticated. Safe to call
   * at any time and more than once; never rejects.
   */
  close(): Promise<void>;
}

/**
 * Opens an image's content for download. The header and first chunk are authenticated before
 * this returns (so a swapped, re-keyed or corrupted object is an error response, not a
 * truncated download); later chunks are authenticated as they stream, and a failure there
 * fails the iteration rather than yielding an unauthenticated byte.
 *
 * The caller owns the result and must `close()` it on every path (a response that never
 * starts included): until then it holds an open object and the content key.
 */
export async function openContent(
  tx: Tx,
  deps: ImageDeps,
  image: repo.ImageRow,
): Promise<ImageContent> {
  if (
    image.storage_key === null ||
    image.content_key_encrypted === null ||
    image.sha256 === null ||
    image.size_bytes === null
  )
    throw new WardError('not_found', 'The image has no content yet');
  const place = keyPlace(image);
  const key = await deps.codec.decryptKey(tx, place, image.content_key_encrypted);
  // Aborted by close(): from then on the reader uses the key no more and its failures are
  // not taken for tampering, so the key can be zeroed and the object closed at once.
  const abort = new AbortController();
  let source: Readable | undefined;
  let plain: AsyncGenerator<Buffer>;
  let first: IteratorResult<Buffer>;
  try {
    source = await deps.store.read(image.storage_key);
    const version = image.content_key_encrypted.readUInt32BE(1);
    plain = openObject(
      key,
      { orgId: image.organization_id, objectId: image.id },
      { size: image.size_bytes, sha256: image.sha256 },
      source,
      () => deps.codec.reportObjectFailure({ ...place, column: 'object' }, version),
      abort.signal,
    );
    first = await plain.next();
  } catch (e) {
    key.fill(0);
    source?.destroy();
    throw e;
  }
  const opened = plain;
  const object = source;
  let closing: Promise<void> | undefined;
  // Deterministic whatever the store is doing: the key is zeroed and the object destroyed
  // (its file closed, a read in flight ended) at once; then the generator is returned so it
  // runs its own cleanup. Never rejects.
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      abort.abort();
      key.fill(0);
      object.destroy();
      await opened.return(undefined).catch(() => undefined);
    })());
  async function* chunks(): AsyncGenerator<Buffer> {
    try {
      if (first.done) return;
      yield first.value;
      for (;;) {
        const next = await opened.next();
        if (next.done) return;
        yield next.value;
      }
    } finally {
      await close();
    }
  }
  return { chunks: chunks(), close };
}
