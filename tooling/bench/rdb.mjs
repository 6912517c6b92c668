// pnpm bench rdb: Ferry's RDB parse throughput (raw and decoded paths) as ratios to redis-check-rdb
// on the same files in the same run, and peak RSS. Snapshots are generated once into
// $FERRY_BENCH_DIR (default $TMPDIR/ferry-bench) and reused.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { populate, startRedis } from '../../packages/testkit/dist/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const dir = process.env.FERRY_BENCH_DIR ?? join(tmpdir(), 'ferry-bench');
mkdirSync(dir, { recursive: true });
const runs = Number(process.env.FERRY_BENCH_RUNS ?? 3);

async function snapshot(name, fill) {
  const path = join(dir, `${name}.rdb`);
  if (existsSync(path)) return path;
  console.error(`generating ${name} (once; kept in ${dir})…`);
  const server = await startRedis({ label: `bench-${name}` });
  try {
    const client = server.client();
    await fill(client);
    await client.save();
    copyFileSync(server.rdbPath, path);
  } finally {
    await server.stop();
  }
  return path;
}

const mixed = await snapshot('mixed-1m', (c) =>
  populate(c, { catalogue: false, randomKeys: 1_000_000, ttlFraction: 0.2 }),
);
const bigHashes = await snapshot('big-hashes', async (c) => {
  const value = 'v'.repeat(24);
  for (let h = 0; h < 100; h++) {
    const p = c.pipeline();
    for (let i = 0; i < 100_000; i += 1000) {
      const args = [];
      for (let j = i; j < i + 1000; j++) args.push(`field:${j}`, `${value}${j}`);
      p.hset(`hash:${h}`, ...args);
    }
    await p.exec();
  }
  const p = c.pipeline();
  for (let i = 0; i < 2_000_000; i += 1000)
    p.rpush('list:2m', ...Array.from({ length: 1000 }, (_, j) => `element:${i + j}`));
  await p.exec();
});

function best(fn) {
  let result;
  for (let i = 0; i < runs; i++) {
    const r = fn();
    if (!result || r.ms < result.ms) result = r;
  }
  return result;
}

function checkRdb(file) {
  const started = process.hrtime.bigint();
  const r = spawnSync('redis-check-rdb', [file], { encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (r.status !== 0 || !/RDB looks OK/.test(r.stdout))
    throw new Error(`redis-check-rdb failed on ${file}:\n${r.stdout}${r.stderr}`);
  return { ms };
}

function ferry(mode, file) {
  const out = execFileSync(process.execPath, [join(here, 'rdb-child.mjs'), mode, file], { encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').pop());
}

const mb = (bytes) => bytes / (1 << 20);
console.log(
  `pnpm bench rdb — best of ${runs}; ratios are Ferry's throughput ÷ redis-check-rdb's on the same file\n`,
);
for (const [label, file] of [
  ['1 M mixed keys (70% strings, 10% hashes, 10% lists, 5% sets, 5% zsets, 20% TTL)', mixed],
  ['100 hashes × 100 000 fields + one 2 M-element list', bigHashes],
]) {
  const size = statSync(file).size;
  const ref = best(() => checkRdb(file));
  const raw = best(() => ferry('raw', file));
  const decoded = best(() => ferry('decode', file));
  const refMBs = mb(size) / (ref.ms / 1000);
  console.log(`${label}: ${mb(size).toFixed(0)} MB, ${raw.keys} keys`);
  console.log(`  redis-check-rdb     ${refMBs.toFixed(0).padStart(5)} MB/s  ${(ref.ms / 1000).toFixed(2)} s`);
  for (const [name, r, target] of [
    ['Ferry raw path', raw, 1.0],
    ['Ferry decoded path', decoded, 0.5],
  ]) {
    const mbs = mb(size) / (r.ms / 1000);
    const ratio = mbs / refMBs;
    console.log(
      `  ${name.padEnd(19)} ${mbs.toFixed(0).padStart(5)} MB/s  ${(r.ms / 1000).toFixed(2)} s  ${Math.round(r.keys / (r.ms / 1000)).toLocaleString('en')} keys/s  ` +
        `ratio ${ratio.toFixed(2)}× (target ≥ ${target}×${ratio >= target ? ', met' : ', NOT met'})  peak RSS ${mb(r.maxRssBytes).toFixed(0)} MB (target < 256 MB${r.maxRssBytes < 256 << 20 ? ', met' : ', NOT met'})`,
    );
  }
  console.log();
}
