import type { Queryable } from '../../platform/db/index.ts';
import { compilePolicy, type CompiledPolicy } from './evaluator.ts';
import type { PolicyDocument } from './policy-document.ts';

/**
 * Compiled access policies per organization, keyed by the organization's policy_version
 * (bumped by a trigger on every change), so a request never re-parses documents and never
 * uses stale ones. Bounded: the least recently used organization is dropped past `max`.
 */
export class PolicyCache {
  readonly #entries = new Map<string, { version: number; policies: readonly CompiledPolicy[] }>();
  readonly #max: number;

  constructor(max = 1_000) {
    this.#max = max;
  }

  /** The organization's enabled policies at `version`, loaded through `q` on a miss. */
  async get(q: Queryable, orgId: string, version: number): Promise<readonly CompiledPolicy[]> {
    const hit = this.#entries.get(orgId);
    if (hit && hit.version === version) {
      this.#entries.delete(orgId);
      this.#entries.set(orgId, hit);
      return hit.policies;
    }
    const r = await q.query<{ name: string; document: PolicyDocument }>(
      'select name, document from ward.access_policies where enabled order by name',
    );
    // Documents were validated on save; compile trusts that.
    const policies = r.rows.map((row) => compilePolicy(row.name, row.document));
    this.#entries.set(orgId, { version, policies });
    if (this.#entries.size > this.#max) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
    return policies;
  }
}
