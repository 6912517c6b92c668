// Part of `pnpm test`: no shipped source file in packages/, plugins/ or examples/ over 500 lines
// (tests and generated files aside). A file that grows past it holds more than one job: split it.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const LIMIT = 500;
const root = new URL('../..', import.meta.url).pathname;
const over = [];
function walk(dir) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p);
    else if (/\.tsx?$/.test(e.name) && !/\.(test|d)\.ts$/.test(e.name)) {
      const lines = readFileSync(p, 'utf8').split('\n').length - 1;
      if (lines > LIMIT) over.push(`${p.slice(root.length)}: ${lines} lines`);
    }
  }
}
for (const layer of ['packages', 'plugins', 'examples'])
  for (const pkg of readdirSync(join(root, layer), { withFileTypes: true }))
    if (pkg.isDirectory()) {
      try {
        walk(join(root, layer, pkg.name, 'src'));
      } catch (err) {
        if (err.code !== 'ENOENT') throw err;
      }
    }
if (over.length > 0) {
  console.error(`files over ${LIMIT} lines (split them):\n  ${over.join('\n  ')}`);
  process.exit(1);
}
console.log(`file sizes: every source file in packages/, plugins/ and examples/ is at most ${LIMIT} lines`);
