import type { ServerResponse } from 'node:http';
import { finished, Readable } from 'node:stream';
import { isWardError } from '../../platform/errors.ts';
import type { ImageContent } from './images-service.ts';

/** Why a download did not deliver the whole verified file. */
export type DownloadFailure =
  /** The stored object failed authentication part-way (tampered, truncated, swapped). */
  | 'decrypt_failed'
  /** The object store failed while the file was being read. */
  | 'object_read_failed'
  /** The connection closed before the whole file was written (usually the client left). */
  | 'connection_closed'
  /** The client took no byte for the idle limit, so the response was aborted. */
  | 'stalled';

/** How a download that reached its response ended, for the audit event that follows it. */
export type DownloadEnd =
  | { readonly complete: true; readonly bytesSent: number }
  | { readonly complete: false; readonly bytesSent: number; readonly reason: DownloadFailure };

/** What a download needs besides its content and response. */
export interface DownloadOptions {
  /** Longest the client may go without taking a byte before the response is aborted. */
  readonly idleMs: number;
  /**
   * Called once, after the response ended, if the response carried the file (it is not called
   * when the request failed before, e.g. its transaction did not commit).
   */
  readonly onEnd: (end: DownloadEnd) => void;
}

/**
 * One image download, from its opened content to the end of its response. It owns the content
 * and closes it (file handle, content key) exactly once, however the response ends: completed,
 * aborted by the client, failed part-way, stalled, or never started because the request
 * failed after the content was opened. A failure after bytes were sent destroys the response,
 * so the client sees a connection closed short of `Content-Length`, never a completed body.
 *
 * The route returns `body` and reports, from Fastify's `onSend`, what the response carries
 * (`handedOver`): only a response that carries `body` was committed with its `image.download`
 * event, so only that one gets an end.
 */
export class ImageDownload {
  /** The response body: the file's plaintext. */
  readonly body: Readable;
  /**
   * Resolves once the download is over: its response ended and it knows whether that response
   * carried the file (`onEnd` has been called by then, if it is called at all).
   */
  readonly over: Promise<void>;
  #markOver!: () => void;
  readonly #content: ImageContent;
  readonly #res: ServerResponse;
  readonly #opts: DownloadOptions;
  /** Plaintext bytes written to the response (at most this many reached the client). */
  #sent = 0;
  /** The content was read to its end: every chunk, size and digest verified. */
  #read = false;
  #failure: 'decrypt_failed' | 'object_read_failed' | 'stalled' | undefined;
  #carried: boolean | undefined;
  #responseEnded: 'finished' | 'closed' | undefined;
  #released = false;
  #settled = false;
  #timer: NodeJS.Timeout | undefined;

  constructor(content: ImageContent, res: ServerResponse, opts: DownloadOptions) {
    this.#content = content;
    this.#res = res;
    this.#opts = opts;
    this.over = new Promise<void>((resolve) => (this.#markOver = resolve));
    this.body = Readable.from(this.#pump(), { objectMode: false });
    // Counted where the body is piped into the response, so a byte still buffered in the body
    // when the connection dies is not counted as sent. Listening to 'data' any earlier would
    // start the body flowing before anything reads it.
    res.on('pipe', (src) => {
      if (src !== this.body) return;
      this.body.on('data', (chunk: Buffer) => {
        this.#sent += chunk.length;
        this.#timer?.refresh();
      });
    });
    // 'finish' (everything handed to the connection) or a premature close, whichever comes;
    // also when the response had already closed before this download was created.
    finished(res, (err) => {
      this.#responseEnded = err ? 'closed' : 'finished';
      this.#settle();
    });
  }

  /** Reports what the response carries (Fastify's `onSend` payload): this body or not. */
  handedOver(payload: unknown): void {
    if (this.#carried !== undefined) return;
    this.#carried = payload === this.body;
    if (this.#carried && this.#responseEnded === undefined) {
      this.#timer = setTimeout(() => {
        this.#failure ??= 'stalled';
        this.#res.destroy();
      }, this.#opts.idleMs);
      this.#timer.unref();
    }
    this.#settle();
  }

  async *#pump(): AsyncGenerator<Buffer> {
    // Released before the response began (the client left while the request ran): nothing
    // to send, and the content is already closed.
    if (this.#isReleased()) return;
    try {
      for await (const chunk of this.#content.chunks) yield chunk;
      if (!this.#isReleased()) this.#read = true;
    } catch (e) {
      // Closed because the response is already over: the reader's abort is not a failure of
      // the download, and there is nobody left to tell.
      if (this.#isReleased()) return;
      this.#failure ??= isWardError(e, 'decrypt_failed') ? 'decrypt_failed' : 'object_read_failed';
      // Aborted, not ended: with its Content-Length short, no client can take the bytes it
      // got for the whole file (Fastify would destroy it too; this does not depend on that).
      this.#res.destroy();
      throw e;
    } finally {
      await this.#content.close();
    }
  }

  /** Read through a method: it changes while the generator awaits, which narrowing ignores. */
  #isReleased(): boolean {
    return this.#released;
  }

  /** Frees the content once the response is over or will never carry it. */
  #release(): void {
    if (this.#released) return;
    this.#released = true;
    clearTimeout(this.#timer);
    // A body being piped is stopped (its generator returns, closing the content); a body
    // nobody piped has a generator that never started, so the content is closed directly.
    if (this.#carried) this.body.destroy();
    this.#content.close().catch(() => undefined);
  }

  #settle(): void {
    if (this.#settled) return;
    if (this.#responseEnded !== undefined || this.#carried === false) this.#release();
    if (this.#responseEnded === undefined || this.#carried === undefined) return;
    this.#settled = true;
    try {
      if (!this.#carried) return;
      const bytesSent = this.#sent;
      if (this.#read && this.#responseEnded === 'finished' && this.#failure === undefined) {
        this.#opts.onEnd({ complete: true, bytesSent });
      } else {
        this.#opts.onEnd({
          complete: false,
          bytesSent,
          reason: this.#failure ?? 'connection_closed',
        });
      }
    } finally {
      this.#markOver();
    }
  }
}
