import { columnRegistry } from './registry.ts';

/** Seed 3's encrypted agent context, created by migration 0003. */
export const agentContextColumn = columnRegistry.encrypted({
  schema: 'ward',
  table: 'agent_policy_context',
  column: 'context_encrypted',
  idColumn: 'id',
  kind: 'json',
  purpose: 'AI agent session context (seed 3)',
});
