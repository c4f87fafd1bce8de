export { Database, type SystemJob, type SystemAccessRecorder } from './database.ts';
export { type RequestContext, type ActorType, isUuid } from './context.ts';
export type { Tx, Queryable, QueryResult, EngineKind, PreludeStatement } from './types.ts';
export { firstRow } from './types.ts';
export { openDatabase } from './open.ts';
export { ident, qualified } from './sql.ts';
export { parseCopyLine } from './copy-text.ts';
