// One measured parse of an RDB file, in its own process so its peak RSS is its own.
// Usage: node rdb-child.mjs <raw|decode> <file>  → prints {ms, keys, elements, bytes, maxRssBytes}
//   raw:    the migration fast path: batches(), every value captured raw (big ones decoded instead)
//   decode: every value decoded into chunks
import { statSync } from 'node:fs';
import { rdbFileParser } from '../../packages/rdb/dist/index.js';

const [mode, file] = process.argv.slice(2);
const started = process.hrtime.bigint();
let keys = 0;
let elements = 0;
const parser = rdbFileParser(file); // checksum on a worker thread for files past 16 MB
for await (const batch of parser.batches(1024)) {
  for (const e of batch) {
    if (e.kind !== 'key') continue;
    keys++;
    if (mode === 'raw') {
      // captured in the window already (no await), else read now; past rawLimit: decoded instead
      if ((e.captured ?? (await e.raw())) === undefined)
        for await (const c of e.chunks()) elements += c.items?.length ?? 1;
    } else {
      // captured values decode at once; one past the window streams in chunks
      const now = e.decoded();
      if (now) for (const c of now) elements += c.items?.length ?? c.entries?.length ?? 1;
      else for await (const c of e.chunks()) elements += c.items?.length ?? c.entries?.length ?? 1;
    }
  }
}
const ms = Number(process.hrtime.bigint() - started) / 1e6;
console.log(
  JSON.stringify({
    ms,
    keys,
    elements,
    bytes: statSync(file).size,
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
  }),
);
