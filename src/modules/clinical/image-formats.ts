import { WardError } from '../../platform/errors.ts';

/**
 * The content types an image may have, each with the signature its file must start with.
 * Checking the bytes as they stream in keeps a mislabelled upload (a script, an archive)
 * from being stored and later served under an image type.
 */
export const imageContentTypes = {
  // DICOM Part 10: a 128-byte preamble, then "DICM".
  'application/dicom': { offset: 128, magic: Buffer.from('DICM', 'latin1') },
  'image/png': { offset: 0, magic: Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]) },
  'image/jpeg': { offset: 0, magic: Buffer.from([0xff, 0xd8, 0xff]) },
  'image/tiff': {
    offset: 0,
    magic: [Buffer.from('II*\0', 'latin1'), Buffer.from('MM\0*', 'latin1')],
  },
} as const;

/**
 * DICOM Modality (0008,0060), a Code String: 2 to 16 of A–Z, 0–9, underscore and space, upper
 * case only, without leading or trailing space (so RTIMAGE, RTSTRUCT, SEG are accepted).
 * Migration 0018 checks the same in the table.
 */
export const dicomModalityPattern = '^[A-Z0-9_][A-Z0-9_ ]{0,14}[A-Z0-9_]$';

/**
 * DICOM Body Part Examined (0018,0015), a Code String: 1 to 16 of A–Z, 0–9, underscore and
 * space. It is stored unencrypted, so free text (which could carry patient details) is
 * refused; lower case is refused rather than converted, so what is stored is what was sent.
 */
export const dicomBodyPartPattern = '^[A-Z0-9_]([A-Z0-9_ ]{0,14}[A-Z0-9_])?$';

/**
 * A DICOM UID (PS3.5 9.1): dot-separated numeric components, none with a leading zero unless
 * it is exactly "0", at most 64 characters.
 */
export const dicomUidPattern = '^(0|[1-9][0-9]*)(\\.(0|[1-9][0-9]*))*$';

/** An allowed image content type. */
export type ImageContentType = keyof typeof imageContentTypes;

/** The allow-list, for request schemas. */
export const imageContentTypeList = Object.keys(imageContentTypes) as ImageContentType[];

/** Whether `v` is an allowed content type. */
export function isImageContentType(v: string): v is ImageContentType {
  return Object.hasOwn(imageContentTypes, v);
}

/**
 * An async-generator transform that passes bytes through unchanged once the first ones match
 * the signature of `type`; a mismatch (or a file too short to carry it) is a 415.
 */
export function signatureCheck(
  type: ImageContentType,
): (source: AsyncIterable<Buffer | string>) => AsyncGenerator<Buffer> {
  const sig = imageContentTypes[type];
  const magics: readonly Buffer[] = Array.isArray(sig.magic) ? sig.magic : [sig.magic as Buffer];
  const need = sig.offset + (magics[0]?.length ?? 0);
  const mismatch = () =>
    new WardError('unsupported_media_type', `The file content is not ${type}`, {
      reason: 'signature_mismatch',
    });
  return async function* (source) {
    let head: Buffer = Buffer.alloc(0);
    let checked = false;
    for await (const part of source) {
      const b = typeof part === 'string' ? Buffer.from(part) : part;
      if (checked) {
        yield b;
        continue;
      }
      head = Buffer.concat([head, b]);
      if (head.length < need) continue;
      const at = head.subarray(sig.offset, need);
      if (!magics.some((m) => m.equals(at))) throw mismatch();
      checked = true;
      yield head;
    }
    if (!checked) throw mismatch();
  };
}
