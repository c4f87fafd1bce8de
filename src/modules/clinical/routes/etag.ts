import type { FastifyRequest } from 'fastify';
import { WardError } from '../../../platform/errors.ts';

/** The strong ETag of a row version. */
export function etagOf(version: number): string {
  return `"${String(version)}"`;
}

/**
 * The version a conditional update was based on, from `If-Match: "<version>"`. Missing is a
 * 428 (updates must be conditional, so a lost update cannot happen by omission).
 */
export function ifMatchVersion(req: FastifyRequest): number {
  const h = req.headers['if-match'];
  if (h === undefined) throw new WardError('precondition_required');
  const m = typeof h === 'string' ? /^\s*"(\d{1,9})"\s*$/.exec(h) : null;
  if (!m?.[1])
    throw new WardError('validation_failed', 'If-Match must be a version ETag, e.g. "3"');
  return Number(m[1]);
}
