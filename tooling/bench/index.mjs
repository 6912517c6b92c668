#!/usr/bin/env node
// `pnpm bench <name> [args]`: runs tooling/bench/<name>.mjs against the built packages.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const [name, ...args] = process.argv.slice(2);
const script = name && join(here, `${name}.mjs`);
if (!script || !existsSync(script) || name === 'index') {
  console.error('usage: pnpm bench <rdb> [options]   (build first: pnpm build)');
  process.exit(2);
}
process.argv = [process.argv[0], script, ...args];
await import(script);
