import { createHmac } from 'node:crypto';
import { WardError } from '../../../platform/errors.ts';
import { aesGcmOpen, aesGcmSeal, keyBytes, nonceBytes, randomNonce } from '../aead.ts';
import { wrapAad, type KekProvider, type WrapContext } from './provider.ts';

const wrapFormat = 0x01;

/**
 * A KEK held in process memory: the `env` and `file` providers. Wrapping is AES-256-GCM with
 * the wrap context as associated data. The id is a keyed fingerprint, so a wrong key shows up
 * as "wrapped under a different KEK" rather than as a failed decryption.
 */
export function createLocalKek(
  key: Buffer,
  kind: 'env' | 'file',
  development = false,
): KekProvider {
  if (key.length !== keyBytes) {
    throw new WardError('config_invalid', 'The master key must be exactly 32 bytes (base64)');
  }
  const secret = Buffer.from(key);
  const id = `local:${createHmac('sha256', secret).update('ward.kek-id.v1').digest('hex').slice(0, 16)}`;
  return {
    id,
    kind,
    development,
    wrap(dek: Buffer, ctx: WrapContext): Promise<Buffer> {
      const nonce = randomNonce();
      const sealed = aesGcmSeal(secret, nonce, wrapAad(id, ctx), dek);
      return Promise.resolve(Buffer.concat([Buffer.from([wrapFormat]), nonce, sealed]));
    },
    unwrap(wrapped: Buffer, ctx: WrapContext): Promise<Buffer> {
      const nonce = wrapped.subarray(1, 1 + nonceBytes);
      const opened =
        wrapped[0] === wrapFormat && nonce.length === nonceBytes
          ? aesGcmOpen(secret, nonce, wrapAad(id, ctx), wrapped.subarray(1 + nonceBytes))
          : undefined;
      if (!opened || opened.length !== keyBytes) {
        return Promise.reject(
          new WardError('kek_unavailable', 'A wrapped key failed to unwrap under the KEK', {
            kekId: id,
          }),
        );
      }
      return Promise.resolve(opened);
    },
  };
}

/** Decodes a base64 master key, refusing anything that is not exactly 32 bytes. */
export function decodeMasterKey(text: string, source: string): Buffer {
  const trimmed = text.trim();
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(trimmed)) {
    throw new WardError('config_invalid', `${source} is not base64`);
  }
  const key = Buffer.from(trimmed, 'base64');
  if (key.length !== keyBytes) {
    throw new WardError(
      'config_invalid',
      `${source} must decode to 32 bytes (got ${key.length}); generate one with: openssl rand -base64 32`,
    );
  }
  return key;
}
