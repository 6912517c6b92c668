// pnpm bench e2e: what a user times — `ferry migrate --until-synced` from start to exit 0 — on
// three shapes of data, each as a ratio to native replication measured in the same run (REPLICAOF
// into an empty server, until the link is up and DBSIZE equal), interleaved, with Ferry's peak RSS
// and CPU seconds.
//   strings-1m  1 M strings of 100 bytes (DEBUG POPULATE)
//   mixed-1m    the 1 M mixed keys of `pnpm bench migrate`
//   big-keys    100 hashes of 100 000 fields and one list of 2 M elements
// FERRY_BENCH_RUNS rounds (default 2), the best of each side; FERRY_BENCH_SHAPES=strings-1m,… to pick;
// FERRY_BENCH_FERRY_ARGS adds options to Ferry's command line.
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startRedis, waitFor } from '../../packages/testkit/dist/index.js';
import { benchDir, mixed1m, serverCpu, startSource } from './dataset.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const mb = (b) => b / (1 << 20);
const s = (ms) => `${(ms / 1000).toFixed(2)} s`;

/** Makes (once) a snapshot with `fill(client)` and keeps it in the bench folder. */
async function dataset(name, fill) {
  mkdirSync(benchDir, { recursive: true });
  const rdb = join(benchDir, `${name}.rdb`);
  if (!existsSync(rdb)) {
    console.error(`generating ${name} (once; kept in ${benchDir})…`);
    const srv = await startRedis({ label: 'bench-gen', startTimeoutMs: 120_000 });
    const c = srv.client();
    await fill(c, srv);
    await c.save();
    copyFileSync(srv.rdbPath, rdb);
    await srv.stop();
  }
  return rdb;
}

const shapes = {
  'strings-1m': () =>
    dataset('strings-1m', async (c) => {
      await c.call('DEBUG', 'POPULATE', '1000000', 'str', '100');
    }),
  'mixed-1m': () => mixed1m(),
  'big-keys': () =>
    dataset('big-keys', async (c) => {
      const value = 'v'.repeat(60);
      for (let h = 0; h < 100; h++) {
        for (let f = 0; f < 100_000; f += 1000) {
          const args = [];
          for (let i = f; i < f + 1000; i++) args.push(`field:${i}`, `${value}:${i}`);
          await c.hset(`big:hash:${h}`, ...args);
        }
      }
      for (let i = 0; i < 2_000_000; i += 2000) {
        const els = [];
        for (let j = i; j < i + 2000; j++) els.push(`element:${j}:${value}`);
        await c.rpush('big:list', ...els);
      }
    }),
};

/** Clock ticks per second of /proc/<pid>/stat's CPU times. */
const tick = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

const dbsize = async (srv) => Number(await srv.command('DBSIZE'));

/** CPU used by the source (with its fork, reaped within a cron tick) and the receiving server since `at`. */
async function cpuSince(srv, receiver, at) {
  await new Promise((r) => setTimeout(r, 300));
  const [s, r] = await Promise.all([serverCpu(srv), serverCpu(receiver)]);
  return { source: s.main + s.fork - at.source, receiver: r.main + r.fork - at.receiver };
}

/** Both servers' CPU now, as cpuSince counts it. */
async function cpuAt(srv, receiver) {
  const [s, r] = await Promise.all([serverCpu(srv), serverCpu(receiver)]);
  return { source: s.main + s.fork, receiver: r.main + r.fork };
}

const cores = Math.max(1, Number(execFileSync('nproc').toString().trim()) || 1);

async function native(rdb) {
  const { server: srv, cleanup } = await startSource(rdb);
  const want = await dbsize(srv);
  const replica = await startRedis({ label: 'bench-native' });
  const at = await cpuAt(srv, replica);
  const t0 = performance.now();
  await replica.command('REPLICAOF', srv.host, String(srv.port));
  await waitFor(
    async () => {
      const r = await replica.info('replication');
      return r.master_link_status === 'up' && (await dbsize(replica)) === want;
    },
    { timeoutMs: 600_000, intervalMs: 5 },
  );
  const ms = performance.now() - t0;
  const servers = await cpuSince(srv, replica, at);
  await replica.stop();
  await srv.stop();
  cleanup();
  return { ms, keys: want, servers };
}

/** `ferry migrate --until-synced` as a user runs it: wall clock to exit, peak RSS and CPU from /proc. */
async function ferry(rdb, bin = join(root, 'apps/cli/bin/ferry.js')) {
  const { server: srv, cleanup } = await startSource(rdb);
  const want = await dbsize(srv);
  const target = await startRedis({ label: 'bench-target' });
  const state = mkdtempSync(join(tmpdir(), 'ferry-bench-state-'));
  const at = await cpuAt(srv, target);
  const t0 = performance.now();
  const child = spawn(
    process.execPath,
    [
      bin,
      'migrate',
      '--source',
      `redis://${srv.host}:${srv.port}`,
      '--target',
      `redis://${target.host}:${target.port}`,
      '--until-synced',
      '--state-dir',
      state,
      // extra options for experiments, e.g. FERRY_BENCH_FERRY_ARGS='--config opts.yml'
      ...(process.env.FERRY_BENCH_FERRY_ARGS ?? '').split(' ').filter(Boolean),
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let err = '';
  child.stderr.on('data', (d) => {
    err += d;
  });
  let peak = 0;
  let cpu = 0;
  const sample = () => {
    try {
      const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
      peak = Math.max(peak, Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024);
      const f = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1].split(' ');
      cpu = (Number(f[11]) + Number(f[12])) / tick;
    } catch {
      // gone
    }
  };
  const poll = setInterval(sample, 20);
  const code = await new Promise((r) => child.on('exit', r));
  clearInterval(poll);
  const ms = performance.now() - t0;
  if (code !== 0) throw new Error(`ferry migrate exited ${code}: ${err.slice(-2000)}`);
  const keys = await dbsize(target);
  const servers = await cpuSince(srv, target, at);
  const done = /done: (.*)/.exec(err)?.[1] ?? '';
  await target.stop();
  await srv.stop();
  cleanup();
  rmSync(state, { recursive: true, force: true });
  return { ms, peak, cpu, keys, want, done, servers };
}

const runs = Math.max(1, Number(process.env.FERRY_BENCH_RUNS ?? 3));
const picked = (process.env.FERRY_BENCH_SHAPES ?? Object.keys(shapes).join(',')).split(',');
// FERRY_BENCH_BASELINE=path/to/another/ferry.js: that build runs too, in every round, for a paired
// comparison with this one (e.g. a copy of apps/cli/bin from before a change, or apps/cli/dist/main.js)
const baseline = process.env.FERRY_BENCH_BASELINE;
console.log(
  `pnpm bench e2e — ferry migrate --until-synced, start to exit 0, against native replication; best of ${runs}\n`,
);
const rows = [];
for (const name of picked) {
  if (!shapes[name]) throw new Error(`no shape ${name}: ${Object.keys(shapes).join(', ')}`);
  const rdb = await shapes[name]();
  console.log(`${name}: ${mb(statSync(rdb).size).toFixed(0)} MB RDB`);
  let nBest;
  let fBest;
  for (let i = 1; i <= runs; i++) {
    const n = await native(rdb);
    const f = await ferry(rdb);
    console.log(
      `  round ${i}: native ${s(n.ms)}, Ferry ${s(f.ms)} (${(f.ms / n.ms).toFixed(2)}×), Ferry peak RSS ${mb(f.peak).toFixed(0)} MB, CPU ${f.cpu.toFixed(1)} s; ${f.keys.toLocaleString('en')} of ${f.want.toLocaleString('en')} keys`,
    );
    console.log(
      `           CPU: native source ${n.servers.source.toFixed(2)} s + replica ${n.servers.receiver.toFixed(2)} s; Ferry source ${f.servers.source.toFixed(2)} s + Ferry ${f.cpu.toFixed(2)} s + target ${f.servers.receiver.toFixed(2)} s`,
    );
    if (baseline) {
      const b = await ferry(rdb, baseline);
      console.log(
        `           baseline ${baseline}: ${s(b.ms)} (${(b.ms / n.ms).toFixed(2)}× native); this build ${(f.ms / b.ms).toFixed(2)}× the baseline`,
      );
    }
    if (!nBest || n.ms < nBest.ms) nBest = n;
    if (!fBest || f.ms < fBest.ms) fBest = f;
  }
  rows.push({ name, native: nBest.ms, ferry: fBest, nativeRun: nBest });
  console.log(`  checked: ${fBest.done}`);
}
console.log('\nshape        native      Ferry       ratio  (target ≤ 1.2)  peak RSS (target < 250 MB)  CPU');
for (const r of rows) {
  const ratio = r.ferry.ms / r.native;
  console.log(
    `${r.name.padEnd(12)} ${s(r.native).padEnd(11)} ${s(r.ferry.ms).padEnd(11)} ${ratio.toFixed(2)}×  ${ratio <= 1.2 ? 'met    ' : 'NOT met'}        ${`${mb(r.ferry.peak).toFixed(0)} MB`.padEnd(8)} ${mb(r.ferry.peak) < 250 ? 'met    ' : 'NOT met'}            ${r.ferry.cpu.toFixed(1)} s`,
  );
}
// What the machine allows: a migration through commands needs the source's, Ferry's and the
// target's CPU, and on `cores` cores it cannot end before their sum / cores; native replication
// needs only the source's and the replica's RDB load. The last column is the CPU Ferry may use
// for 1.2× to be possible at all with the servers' CPU as measured.
console.log(
  `\nCPU on this machine (${cores} cores), Ferry's best run: the floor its CPU sets, against native's wall clock`,
);
console.log('shape        servers     Ferry       (all)/cores  servers/cores  Ferry CPU for 1.2×');
for (const r of rows) {
  const servers = r.ferry.servers.source + r.ferry.servers.receiver;
  const all = servers + r.ferry.cpu;
  const ratio = (cpu) => `${((cpu * 1000) / cores / r.native).toFixed(2)}×`;
  const allowed = (1.2 * r.native * cores) / 1000 - servers;
  console.log(
    `${r.name.padEnd(12)} ${`${servers.toFixed(2)} s`.padEnd(11)} ${`${r.ferry.cpu.toFixed(2)} s`.padEnd(11)} ${ratio(all).padEnd(12)} ${ratio(servers).padEnd(14)} ${allowed.toFixed(2)} s`,
  );
}
