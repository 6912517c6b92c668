// Runs one Ferry task in this process from the JSON spec in argv[2] and reports, as JSON lines:
// "snapshot-done" (ms from start to every shard streaming, per-shard keys and write times), then
// "done" once the parent sends "complete" on stdin.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEngine, MemoryCheckpointStore } from '../../packages/core/dist/index.js';
import { sourceCluster } from '../../plugins/source-cluster/dist/index.js';
import { sourceStandalone } from '../../plugins/source-standalone/dist/index.js';

const spec = JSON.parse(process.argv[2]);
const out = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
const engine = createEngine({
  plugins: [sourceStandalone(), sourceCluster()],
  checkpoints: new MemoryCheckpointStore(),
  spoolDir: mkdtempSync(join(tmpdir(), 'ferry-bench-spool-')),
});
const task = engine.createTask(spec);
const started = performance.now();
task.events.on('task:state', ({ to }) => {
  if (to === 'incremental_sync')
    out({
      event: 'snapshot-done',
      ms: performance.now() - started,
      shards: task.metrics().map((m) => ({ id: m.shardId, keys: m.keys, writeMs: m.snapshotWriteMs })),
      cpuMs: (process.cpuUsage().user + process.cpuUsage().system) / 1000,
      maxRss: process.resourceUsage().maxRSS * 1024,
    });
});
task.events.on('task:error', (e) => out({ event: 'error', ...e }));
process.stdin.on('data', (d) => {
  if (String(d).includes('complete')) void task.complete({ force: true });
});
try {
  await task.start();
  out({ event: 'done' });
  process.exit(0);
} catch (err) {
  out({ event: 'failed', message: String(err?.message ?? err) });
  process.exit(1);
}
