#!/usr/bin/env node
// Entry point of the `ward` command. Ward ships as TypeScript and runs it through tsx, so a
// fresh clone works right after `npm install` with no build step and no network access.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
