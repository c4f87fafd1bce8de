import { execFile } from 'node:child_process';
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { WardError } from '../../../platform/errors.ts';
import { keyBytes } from '../aead.ts';
import { wrapAad, type KekProvider, type WrapContext } from './provider.ts';

/** How to reach the token key. The PIN travels to pkcs11-tool by environment, never argv. */
export interface Pkcs11Options {
  /** The PKCS#11 module, e.g. /usr/lib/softhsm/libsofthsm2.so. */
  readonly module: string;
  readonly tokenLabel: string;
  /** Label of a sensitive, non-extractable AES-256 key on the token. */
  readonly keyLabel: string;
  readonly pin: string;
  /** Extra environment for the module (SOFTHSM2_CONF for SoftHSM2). */
  readonly env?: NodeJS.ProcessEnv;
  /** The pkcs11-tool executable (Debian package `opensc`). */
  readonly tool?: string;
}

const ivBytes = 16;
const macBytes = 32;
const macKeyLabel = Buffer.alloc(32, 0);
Buffer.from('ward.pkcs11.mac-key.v1', 'latin1').copy(macKeyLabel);

/**
 * A KEK that never leaves a PKCS#11 token (SoftHSM2 in tests, an HSM in production), driven
 * through OpenSC's `pkcs11-tool` (see docs/decisions/2026-11-22-pkcs11-through-pkcs11-tool.md).
 * Wrapping is encrypt-then-MAC: the token encrypts the key with AES-CBC-PAD under the token
 * key; an HMAC-SHA-256 over the wrap context, IV and ciphertext authenticates it, keyed by a
 * MAC key the token derives (AES-ECB of a fixed label under the same token key) and that is
 * never stored. pkcs11-tool 0.23 offers neither AES-GCM nor AES-CMAC for this purpose.
 */
export function createPkcs11Kek(opts: Pkcs11Options): KekProvider {
  const id = `pkcs11:${opts.tokenLabel}/${opts.keyLabel}`;
  let macKey: Promise<Buffer> | undefined;
  const tokenMacKey = (): Promise<Buffer> => {
    macKey ??= runTool(opts, ['--encrypt', '-m', 'AES-ECB'], macKeyLabel).catch((e: unknown) => {
      macKey = undefined;
      throw e;
    });
    return macKey;
  };
  const mac = async (ctx: WrapContext, iv: Buffer, ct: Buffer): Promise<Buffer> =>
    createHmac('sha256', await tokenMacKey())
      .update(wrapAad(id, ctx))
      .update(iv)
      .update(ct)
      .digest();
  return {
    id,
    kind: 'pkcs11',
    development: false,
    async wrap(key: Buffer, ctx: WrapContext): Promise<Buffer> {
      const iv = randomBytes(ivBytes);
      const ct = await runTool(
        opts,
        ['--encrypt', '-m', 'AES-CBC-PAD', '--iv', iv.toString('hex')],
        key,
      );
      return Buffer.concat([iv, ct, await mac(ctx, iv, ct)]);
    },
    async unwrap(wrapped: Buffer, ctx: WrapContext): Promise<Buffer> {
      const fail = () =>
        new WardError('kek_unavailable', 'A wrapped key failed to unwrap under the token key', {
          kekId: id,
        });
      if (wrapped.length < ivBytes + 16 + macBytes) throw fail();
      const iv = wrapped.subarray(0, ivBytes);
      const ct = wrapped.subarray(ivBytes, wrapped.length - macBytes);
      const tag = wrapped.subarray(wrapped.length - macBytes);
      // Verify before decrypting, so the token never sees forged ciphertext.
      if (!timingSafeEqual(tag, await mac(ctx, iv, ct))) throw fail();
      const key = await runTool(
        opts,
        ['--decrypt', '-m', 'AES-CBC-PAD', '--iv', iv.toString('hex')],
        ct,
      );
      if (key.length !== keyBytes) throw fail();
      return key;
    },
  };
}

/** Runs one pkcs11-tool operation with the token key, feeding `input` on stdin. */
export function runTool(opts: Pkcs11Options, op: string[], input: Buffer): Promise<Buffer> {
  const args = [
    '--module',
    opts.module,
    '--token-label',
    opts.tokenLabel,
    '--login',
    '--pin',
    'env:WARD_PKCS11_TOOL_PIN',
    '--label',
    opts.keyLabel,
    ...op,
  ];
  return new Promise((resolve, reject) => {
    const child = execFile(
      opts.tool ?? 'pkcs11-tool',
      args,
      {
        encoding: 'buffer',
        env: { ...process.env, ...opts.env, WARD_PKCS11_TOOL_PIN: opts.pin },
        timeout: 15_000,
        maxBuffer: 1 << 20,
      },
      (err, stdout, stderr) => {
        if (err) {
          // stderr names the failing PKCS#11 call (CKR_PIN_INCORRECT, …); it holds no key bytes.
          const why = /error: ([^\n]{1,160})/.exec(stderr.toString('utf8'))?.[1] ?? err.message;
          reject(
            new WardError('kek_unavailable', `The PKCS#11 token refused the operation: ${why}`),
          );
          return;
        }
        resolve(stdout);
      },
    );
    // A tool that stops before reading its input (a refused login) closes the pipe, and the
    // write fails with EPIPE: its exit status and stderr above say why, so that error is only
    // noise — unhandled, it would crash the process instead of failing the operation.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(input);
  });
}
