// Runs one Ferry migration in this process (so its peak RSS is Ferry's alone) and reports, as JSON
// lines on stdout: phase timings, then the applied offset every 10 ms while streaming. The parent
// sends "complete" on stdin to finish.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEngine, MemoryCheckpointStore } from '../../packages/core/dist/index.js';
import { sourceStandalone } from '../../plugins/source-standalone/dist/index.js';

const [source, target] = process.argv.slice(2).map((s) => {
  const [host, port] = s.split(':');
  return { host, port: Number(port) };
});
const out = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
const engine = createEngine({
  plugins: [sourceStandalone()],
  checkpoints: new MemoryCheckpointStore(),
  spoolDir: mkdtempSync(join(tmpdir(), 'ferry-bench-spool-')),
});
const task = engine.createTask({
  id: 'bench',
  source: { topology: 'standalone', options: { nodes: [source] } },
  target: { endpoint: target },
});
const started = performance.now();
const cpuNow = () => (process.cpuUsage().user + process.cpuUsage().system) / 1000;
const cpuAtStart = cpuNow();
task.events.on('task:state', ({ to }) => {
  if (to === 'incremental_sync') {
    const m = task.metrics()[0];
    out({
      event: 'snapshot-done',
      ms: performance.now() - started,
      keys: m.keys,
      skipped: m.skippedKeys,
      writeMs: m.snapshotWriteMs,
      cpuMs: cpuNow() - cpuAtStart, // every thread of this process, from the task's start
      maxRss: process.resourceUsage().maxRSS * 1024,
    });
    const timer = setInterval(() => {
      const s = task.metrics()[0];
      out({ event: 'offset', t: Date.now(), applied: s.appliedOffset, received: s.receivedOffset });
    }, 10);
    timer.unref();
  }
});
task.events.on('task:error', (e) => out({ event: 'error', ...e }));
// the check before "done" (key counts and sampled values against both servers): how long it takes
let completingAt;
let checkMs;
task.events.on('task:state', ({ to }) => {
  if (to === 'completing') completingAt = performance.now();
});
task.events.on('task:checked', () => {
  if (completingAt !== undefined) checkMs = performance.now() - completingAt;
});
process.stdin.on('data', async (d) => {
  if (String(d).includes('complete')) {
    await task.complete({ force: true });
  }
});
try {
  await task.start();
  out({
    event: 'done',
    maxRss: process.resourceUsage().maxRSS * 1024,
    metrics: task.metrics()[0],
    checkMs,
    check: task.doneCheck?.summary,
  });
  process.exit(0);
} catch (err) {
  out({ event: 'failed', message: String(err?.message ?? err) });
  process.exit(1);
}
