// Every module that owns encrypted columns registers them in its own file; importing this one
// loads them all, so the rewrap job, `ward keys status` and the inventory see every column.
// A module that adds `*_encrypted` or `*_bidx` columns adds its import here.
import './encrypted-columns.ts';
import '../access/encrypted-columns.ts';
import '../auth/encrypted-columns.ts';
import '../clinical/encrypted-columns.ts';

export { columnRegistry } from './registry.ts';
