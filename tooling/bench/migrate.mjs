// pnpm bench migrate: Ferry standalone → standalone on 1 M mixed keys (~170 MB RDB), every figure
// as a ratio to a reference measured in the same run:
//   snapshot phase  ÷ native replication (REPLICAOF into an empty server, same source settings)
//   write phase     ÷ the target's raw ingest of the same RESTORE commands through redis-cli --pipe
//   incremental     Ferry's sustained apply rate under redis-benchmark (SET/INCR/LPUSH/HSET,
//                   pipelined) ÷ the rate native replication sustains, with lag p50/p99/max
import { execFile, execFileSync, spawn } from 'node:child_process';
import { createWriteStream, existsSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dumpPayload, rdbFileParser } from '../../packages/rdb/dist/index.js';
import { encodeCommand } from '../../packages/resp/dist/index.js';
import { startRedis, waitFor } from '../../packages/testkit/dist/index.js';
import { benchDir, mixed1m, serverCpu, startSource } from './dataset.mjs';

const here = dirname(fileURLToPath(import.meta.url));
if (process.argv.includes('--topology')) {
  await import('./migrate-topology.mjs');
  process.exit(0);
}
const dir = benchDir;
const rdb = await mixed1m(); // shared with bench rdb and bench verify
const mb = (b) => b / (1 << 20);
console.log(
  `pnpm bench migrate — 1 M mixed keys, ${mb(statSync(rdb).size).toFixed(0)} MB RDB, standalone → standalone\n`,
);

// FERRY_BENCH_DISKLESS=no measures disk-based sync instead of Redis 7's default diskless sync.
const diskless = (process.env.FERRY_BENCH_DISKLESS ?? 'yes') !== 'no';

const info = async (s, section) => s.info(section);
const keysOf = async (s) => {
  const ks = await info(s, 'keyspace');
  return Object.values(ks).reduce((a, v) => a + Number(/keys=(\d+)/.exec(String(v))?.[1] ?? 0), 0);
};

// ---------------------------------------------------------------- native replication
async function nativeSnapshot(source) {
  const replica = await startRedis({ label: 'bench-native' });
  const t0 = performance.now();
  await replica.command('REPLICAOF', source.host, String(source.port));
  await waitFor(
    async () => {
      const r = await info(replica, 'replication');
      const p = await info(replica, 'persistence');
      return r.master_link_status === 'up' && r.master_sync_in_progress === '0' && p.loading === '0';
    },
    { timeoutMs: 300_000, intervalMs: 5 },
  );
  return { ms: performance.now() - t0, replica, keys: await keysOf(replica) };
}

// ---------------------------------------------------------------- raw ingest of RESTORE commands
async function rawIngest() {
  const file = join(dir, 'mixed-1m.restore.resp');
  if (!existsSync(file)) {
    const out = createWriteStream(file);
    const parser = rdbFileParser(rdb);
    const now = Date.now();
    for await (const batch of parser.batches(1024)) {
      const chunks = [];
      for (const e of batch) {
        if (e.kind !== 'key') continue;
        const raw = e.captured ?? (await e.raw());
        if (e.expireAtMs !== undefined && e.expireAtMs <= now) continue;
        const ttl = e.expireAtMs ?? 0;
        const args = ['RESTORE', e.key, ttl, dumpPayload(e.rdbType, raw, parser.version)];
        if (e.expireAtMs !== undefined) args.push('ABSTTL');
        chunks.push(encodeCommand(args));
      }
      if (!out.write(Buffer.concat(chunks))) await new Promise((r) => out.once('drain', r));
    }
    await new Promise((r) => out.end(r));
  }
  const target = await startRedis({ label: 'bench-raw' });
  const c0 = await serverCpu(target);
  const t0 = performance.now();
  execFileSync('sh', ['-c', `redis-cli -h ${target.host} -p ${target.port} --pipe < ${file}`], {
    stdio: 'pipe',
  });
  const ms = performance.now() - t0;
  const targetCpu = (await serverCpu(target)).main - c0.main;
  const keys = await keysOf(target);
  await target.stop();
  return { ms, keys, targetCpu, file };
}

// ---------------------------------------------------------------- Ferry
function startFerry(source, target) {
  const child = spawn(
    process.execPath,
    [join(here, 'migrate-child.mjs'), `${source.host}:${source.port}`, `${target.host}:${target.port}`],
    {
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  const listeners = new Set();
  let buf = '';
  child.stdout.on('data', (d) => {
    buf += d;
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const ev = JSON.parse(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
      for (const l of listeners) l(ev);
    }
  });
  const next = (name) =>
    new Promise((resolve, reject) => {
      const l = (ev) => {
        if (ev.event === name) {
          listeners.delete(l);
          resolve(ev);
        } else if (ev.event === 'failed') reject(new Error(ev.message));
      };
      listeners.add(l);
    });
  return { child, next, listeners };
}

// ---------------------------------------------------------------- the CPU floor of moving the bytes
/** What a Node.js process spends only to receive the RDB and send the RESTOREs (floor-child.mjs). */
async function moveFloor(source, respFile) {
  const target = await startRedis({ label: 'bench-floor' });
  const out = await new Promise((resolve, reject) =>
    execFile(
      process.execPath,
      [
        join(here, 'floor-child.mjs'),
        `${source.host}:${source.port}`,
        `${target.host}:${target.port}`,
        respFile,
      ],
      { timeout: 300_000 },
      (err, stdout) => (err ? reject(err) : resolve(JSON.parse(stdout))),
    ),
  );
  await target.stop();
  return out;
}

// ---------------------------------------------------------------- incremental phase
function percentile(sorted, p) {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/**
 * One load step: redis-benchmark (SET/INCR/LPUSH/HSET) at pipeline depth `pipeline` with `clients`
 * connections, `perTest` requests per command. Returns the source's rate and, for native replication
 * and Ferry, the rate they applied at and their lag over time (ms since the source had the offset
 * they are at; bytes behind the source at that instant).
 */
async function loadStep(source, nativeReplica, ferry, { pipeline, clients, perTest }) {
  const srcConn = source.client();
  const natConn = nativeReplica.client();
  const srcSamples = [];
  const natSamples = [];
  const ferrySamples = [];
  const onFerry = (ev) => {
    if (ev.event === 'offset') ferrySamples.push({ t: ev.t, off: ev.applied });
  };
  ferry.listeners.add(onFerry);
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const [s, n] = await Promise.all([srcConn.info('replication'), natConn.info('replication')]);
      const t = Date.now();
      srcSamples.push({ t, off: Number(/master_repl_offset:(\d+)/.exec(s)?.[1]) });
      natSamples.push({ t, off: Number(/slave_repl_offset:(\d+)/.exec(n)?.[1]) });
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  const t0 = Date.now();
  const args = ['-h', source.host, '-p', String(source.port), '-t', 'set,incr,lpush,hset'];
  args.push(
    '-P',
    String(pipeline),
    '-c',
    String(clients),
    '-n',
    String(perTest),
    '-r',
    '100000',
    '-q',
    '--csv',
  );
  // asynchronously: the samplers must keep running while the load does
  await new Promise((resolve, reject) =>
    execFile('redis-benchmark', args, { timeout: 600_000 }, (err) => (err ? reject(err) : resolve())),
  );
  const loadEnd = Date.now();
  const endOff = Number(/master_repl_offset:(\d+)/.exec(await srcConn.info('replication'))?.[1]);
  const requests = perTest * 4;
  const caughtUp = async (samples) => {
    await waitFor(async () => (samples.at(-1)?.off ?? 0) >= endOff, {
      what: 'a follower to catch up',
      timeoutMs: 600_000,
      intervalMs: 20,
    });
    return samples.find((x) => x.off >= endOff).t;
  };
  const [ferryDone, nativeDone] = await Promise.all([caughtUp(ferrySamples), caughtUp(natSamples)]);
  sampling = false;
  await sampler;
  ferry.listeners.delete(onFerry);
  srcConn.disconnect();
  natConn.disconnect();
  const lags = (samples) => {
    const ms = [];
    const bytes = [];
    let j = 0;
    for (const x of samples) {
      if (x.t < t0 || x.t > Math.max(loadEnd, x.t) || x.off >= endOff) continue;
      while (j + 1 < srcSamples.length && srcSamples[j + 1].t <= x.t) j++;
      bytes.push(Math.max(0, (srcSamples[j]?.off ?? 0) - x.off));
      const had = srcSamples.find((y) => y.off >= x.off);
      ms.push(had ? Math.max(0, x.t - had.t) : 0);
    }
    const sort = (a) => a.sort((p, q) => p - q);
    return { ms: sort(ms), bytes: sort(bytes) };
  };
  const summary = (done, samples) => {
    const lag = lags(samples);
    return {
      rate: requests / ((Math.max(done, loadEnd) - t0) / 1000),
      behindAtEndMs: Math.max(0, done - loadEnd),
      p50: percentile(lag.ms, 50),
      p99: percentile(lag.ms, 99),
      max: lag.ms.at(-1) ?? 0,
      p50b: percentile(lag.bytes, 50),
      p99b: percentile(lag.bytes, 99),
      maxb: lag.bytes.at(-1) ?? 0,
    };
  };
  return {
    pipeline,
    clients,
    sourceRate: requests / ((loadEnd - t0) / 1000),
    native: summary(nativeDone, natSamples),
    ferry: summary(ferryDone, ferrySamples),
  };
}

/**
 * The incremental phase: load steps from full speed down. Ferry's lag counts as bounded in a step
 * when it caught up within 500 ms of the load's end and its p99 lag stayed under 50 ms; the figure is
 * the highest source rate with a bounded lag, as a ratio to the rate native replication sustains at
 * full speed in the same run.
 */
async function incremental(source, nativeReplica, ferry) {
  const seconds = Number(process.env.FERRY_BENCH_STEP_SECONDS ?? 4);
  const steps = [];
  let perTest = 500_000;
  for (const [pipeline, clients] of [
    [32, 4],
    [16, 2],
    [8, 2],
    [4, 2],
    [2, 2],
    [1, 2],
  ]) {
    const step = await loadStep(source, nativeReplica, ferry, { pipeline, clients, perTest });
    steps.push(step);
    // size the next step to last about `seconds` at roughly half this rate
    perTest = Math.max(20_000, Math.round((step.sourceRate * seconds) / 4 / 2));
    const bounded = step.ferry.behindAtEndMs <= 500 && step.ferry.p99 < 50;
    if (bounded) break;
  }
  return steps;
}

// ---------------------------------------------------------------- run
// Three processes share two cores in the snapshot phase (the source's fork, the target, the
// migrator), so one run varies by ±20 %: each snapshot figure is the best of FERRY_BENCH_RUNS rounds
// (default 3), every round measuring native replication, raw ingest and Ferry in turn. The last
// round's native replica and Ferry go on to the incremental phase.
const runs = Math.max(1, Number(process.env.FERRY_BENCH_RUNS ?? 3));
const { server: source, cleanup } = await startSource(rdb, { diskless, backlog: '512mb' });
const sourceKeys = await keysOf(source);
const rounds = [];
let native;
let raw;
let target;
let ferry;
let snap;
let ferryKeys;
for (let r = 0; r < runs; r++) {
  const last = r === runs - 1;
  const n = await nativeSnapshot(source);
  const w = await rawIngest();
  const t = await startRedis({ label: 'bench-target' });
  const [s0, t0] = await Promise.all([serverCpu(source), serverCpu(t)]);
  const f = startFerry(source, t);
  const sd = await f.next('snapshot-done');
  const [s1, t1] = await Promise.all([serverCpu(source), serverCpu(t)]);
  const fk = await keysOf(t);
  rounds.push({
    native: n.ms,
    raw: w.ms,
    rawTargetCpu: w.targetCpu,
    ferry: sd.ms,
    write: sd.writeMs,
    // CPU seconds while Ferry's snapshot ran: the source's fork and main process, target, Ferry
    cpu: {
      fork: s1.fork - s0.fork,
      source: s1.main - s0.main,
      target: t1.main - t0.main,
      ferry: sd.cpuMs / 1000,
    },
  });
  if (!native || n.ms < native.ms) native = { ms: n.ms, keys: n.keys };
  if (!raw || w.ms < raw.ms) raw = w;
  if (!snap || sd.ms < snap.ms) snap = { ...sd };
  if (sd.writeMs < snap.writeMs) snap.writeMs = sd.writeMs;
  snap.maxRss = Math.max(snap.maxRss, sd.maxRss);
  ferryKeys = Math.min(ferryKeys ?? fk, fk); // a round that lost keys must show
  if (last) {
    native.replica = n.replica;
    target = t;
    ferry = f;
  } else {
    f.child.kill('SIGKILL');
    await new Promise((res) => f.child.once('exit', res));
    await Promise.all([n.replica.stop(), t.stop()]);
  }
}
const floor = await moveFloor(source, raw.file);
const inc = await incremental(source, native.replica, ferry);
ferry.child.stdin.write('complete\n');
const done = await ferry.next('done');

const ok = (v, target, lower = true) =>
  `target ${lower ? '≤' : '≥'} ${target}${(lower ? v <= target : v >= target) ? ', met' : ', NOT met'}`;
const snapRatio = snap.ms / native.ms;
const writeRatio = snap.writeMs / raw.ms;
console.log(`source: ${sourceKeys.toLocaleString('en')} keys; best of ${runs} rounds (s):`);
for (const [i, r] of rounds.entries()) {
  const f = (ms) => (ms / 1000).toFixed(2);
  console.log(
    `  round ${i + 1}: native ${f(r.native)}, Ferry snapshot ${f(r.ferry)} (${(r.ferry / r.native).toFixed(2)}×); raw ingest ${f(r.raw)}, Ferry writes ${f(r.write)} (${(r.write / r.raw).toFixed(2)}×)`,
  );
}
console.log(
  `snapshot phase   native replication ${(native.ms / 1000).toFixed(2)} s (${native.keys.toLocaleString('en')} keys)`,
);
console.log(
  `                 Ferry              ${(snap.ms / 1000).toFixed(2)} s (${ferryKeys.toLocaleString('en')} keys on the target, ${snap.skipped} expired/skipped)  ratio ${snapRatio.toFixed(2)}× (${ok(snapRatio, 1.2)})`,
);
console.log(
  `write phase      redis-cli --pipe   ${(raw.ms / 1000).toFixed(2)} s (${raw.keys.toLocaleString('en')} keys)`,
);
console.log(
  `                 Ferry              ${(snap.writeMs / 1000).toFixed(2)} s  ${Math.round(snap.keys / (snap.writeMs / 1000)).toLocaleString('en')} keys/s  ratio ${writeRatio.toFixed(2)}× (${ok(writeRatio, 1.3)})`,
);
// Where the write phase's time goes: on a diskless source it runs while the source's fork makes the
// RDB, so the fork, the target and Ferry share the machine's cores, and the phase cannot be shorter
// than their CPU divided by the cores. Per round: what they used, and how much CPU that left Ferry
// for a write phase of 1.3× that round's raw ingest (the target counted at the lower of its CPU under
// Ferry and under redis-cli --pipe); then what a Node.js process needs only to move the bytes.
{
  const cores = availableParallelism();
  const s = (x) => `${x.toFixed(2)} s`;
  console.log(`CPU budget       CPU used while Ferry's snapshot ran, on ${cores} cores (s):`);
  for (const [i, r] of rounds.entries()) {
    const c = r.cpu;
    const sum = c.fork + c.source + c.target + c.ferry;
    const allowed = (cores * 1.3 * r.raw) / 1000 - c.fork - c.source - Math.min(c.target, r.rawTargetCpu);
    console.log(
      `  round ${i + 1}: source's fork ${c.fork.toFixed(2)} + source ${c.source.toFixed(2)} + target ${c.target.toFixed(2)} (${r.rawTargetCpu.toFixed(2)} under --pipe) + Ferry ${c.ferry.toFixed(2)} = ${sum.toFixed(2)} ≥ ${s(sum / cores)} of ${s(r.write / 1000)}; at 1.3× Ferry could have used ${allowed > 0 ? s(allowed) : 'nothing'}`,
    );
  }
  if (!diskless)
    console.log(
      '                 (disk-based: the fork ran before the write phase, so these bounds are loose)',
    );
  console.log(
    `                 a Node.js process only moving these bytes uses ${s((floor.receiveMs + floor.sendMs) / 1000)} (receive the RDB ${s(floor.receiveMs / 1000)}, send the RESTOREs and read ${floor.replies.toLocaleString('en')} replies ${s(floor.sendMs / 1000)}); one CRC64 pass over the RDB ${s(floor.crcMs / 1000)} (Ferry makes two)`,
  );
}
if (done.checkMs !== undefined)
  console.log(
    `check before done ${(done.checkMs / 1000).toFixed(2)} s (${((100 * done.checkMs) / snap.ms).toFixed(1)} % of Ferry's snapshot phase): ${done.check}`,
  );
const fmtLag = (x) =>
  `lag p50/p99/max ${x.p50}/${x.p99}/${x.max} ms, ${(x.p50b / 1024).toFixed(0)}/${(x.p99b / 1024).toFixed(0)}/${(x.maxb / 1024).toFixed(0)} KB`;
console.log('incremental      redis-benchmark SET/INCR/LPUSH/HSET on the source, from full speed down:');
for (const st of inc) {
  const bounded = st.ferry.behindAtEndMs <= 500 && st.ferry.p99 < 50;
  console.log(
    `  -P ${String(st.pipeline).padEnd(2)} -c ${st.clients}  source ${Math.round(st.sourceRate).toLocaleString('en').padStart(9)} cmds/s | native ${Math.round(st.native.rate).toLocaleString('en')} cmds/s, ${fmtLag(st.native)}`,
  );
  console.log(
    `  ${' '.repeat(10)}${' '.repeat(24)}| Ferry  ${Math.round(st.ferry.rate).toLocaleString('en')} cmds/s, ${fmtLag(st.ferry)}, caught up ${st.ferry.behindAtEndMs} ms after the load${bounded ? '  (bounded)' : ''}`,
  );
}
const full = inc[0];
const best = inc.find((st) => st.ferry.behindAtEndMs <= 500 && st.ferry.p99 < 50);
const nativeMax = full.native.rate;
if (best) {
  const r = best.sourceRate / nativeMax;
  console.log(
    `                 highest rate with Ferry's lag bounded: ${Math.round(best.sourceRate).toLocaleString('en')} cmds/s = ${r.toFixed(2)}× native's ${Math.round(nativeMax).toLocaleString('en')} (target ≥ 0.4×${r >= 0.4 ? ', met' : ', NOT met'}); p99 lag there ${best.ferry.p99} ms (target < 50 ms, met)`,
  );
} else console.log("                 Ferry's lag was not bounded at any step (target NOT met)");
console.log(
  `                 at full speed Ferry applied ${(full.ferry.rate / nativeMax).toFixed(2)}× native's rate`,
);
const rss = Math.max(snap.maxRss, done.maxRss);
console.log(
  `peak RSS         Ferry ${mb(rss).toFixed(0)} MB (target < 300 MB${rss < 300 << 20 ? ', met' : ', NOT met'})`,
);
await Promise.all([source.stop(), native.replica.stop(), target.stop()]);
cleanup();
