#!/usr/bin/env node
// pnpm demo: Ferry's main job on this machine, end to end and with nothing to configure. Starts two
// throwaway redis-servers on loopback, fills the source with every type and encoding (three dbs,
// TTLs, binary keys), keeps writing to it, runs `ferry migrate --until-synced`, then compares both
// servers key by key with the testkit's independent checker. Exit code 0 means: no difference.
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  compareDeployments,
  formatDifferences,
  populate,
  startRedis,
  writeLoad,
} from '../../packages/testkit/dist/index.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const say = (m) => console.log(`demo: ${m}`);
const source = await startRedis({ label: 'demo-source' });
const target = await startRedis({ label: 'demo-target' });
let code = 1;
try {
  say(`source redis://${source.host}:${source.port}, target redis://${target.host}:${target.port}`);
  const filled = await populate(source.client(), { dbs: [0, 1, 2], randomKeys: 20_000 });
  say(`source filled: ${filled.keys} keys (every type and encoding, TTLs, binary keys) in dbs 0, 1, 2`);
  const load = writeLoad(source.client(), { opsPerSec: 2000, durationMs: 4000, dbs: [0, 1, 2] });
  const state = mkdtempSync(join(tmpdir(), 'ferry-demo-'));
  const args = [
    join(root, 'apps/cli/dist/main.js'),
    'migrate',
    '--source',
    `redis://${source.host}:${source.port}`,
    '--target',
    `redis://${target.host}:${target.port}`,
    // --until-synced completes once the lag has been 0 for this long: longer than the writes last
    '--until-synced',
    '--synced-for',
    '6',
    '--state-dir',
    state,
  ];
  say(`running: ferry ${args.slice(1).join(' ')}   (while the source takes ~2000 writes/s)`);
  const ferry = spawn(process.execPath, args, { stdio: 'inherit' });
  const [exit, loadResult] = await Promise.all([new Promise((r) => ferry.once('exit', r)), load]);
  say(`the source took ${loadResult.ops} writes during the migration`);
  if (exit !== 0) throw new Error(`ferry migrate exited with ${exit}`);
  const diffs = await compareDeployments(source, target, { dbs: [0, 1, 2] });
  if (diffs.length > 0) throw new Error(`the target differs from the source:\n${formatDifferences(diffs)}`);
  say('compared every key of dbs 0, 1, 2 on both servers: no difference');
  code = 0;
} catch (err) {
  console.error(`demo: ${err.message}`);
} finally {
  await Promise.all([source.stop(), target.stop()]);
}
process.exit(code);
