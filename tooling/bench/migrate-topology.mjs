// pnpm bench migrate --topology cluster [--keys N]: the snapshot phase of a 3-master cluster source
// → 3-master cluster target, as a ratio to standalone → standalone of the same data (the same
// deterministic populate) in the same run. Shards are read and written in parallel, so the ratio
// shows how much of that parallelism this machine gives (the issue's target: ≤ 0.6×).
import { spawn } from 'node:child_process';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { populate, startCluster, startRedis, waitFor } from '../../packages/testkit/dist/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const topology = arg('--topology', 'cluster');
if (topology !== 'cluster') {
  console.error(
    `--topology ${topology}: only "cluster" is measured (twemproxy and codis sources are sharded the same way)`,
  );
  process.exit(2);
}
const keys = Number(arg('--keys', '400000'));
const config = {
  'repl-diskless-sync': 'yes',
  'repl-diskless-sync-delay': 0,
  'repl-backlog-size': '256mb',
  'client-output-buffer-limit': 'replica 0 0 0',
};
const data = { catalogue: false, randomKeys: keys, ttlFraction: 0.2 };
console.log(`pnpm bench migrate --topology cluster — ${keys} mixed keys, ${cpus().length} cores\n`);

function runFerry(spec) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(here, 'topology-child.mjs'), JSON.stringify(spec)], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    let buf = '';
    let snapshot;
    child.stdout.on('data', (d) => {
      buf += d;
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const ev = JSON.parse(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
        if (ev.event === 'snapshot-done') {
          snapshot = ev;
          child.stdin.write('complete\n');
        } else if (ev.event === 'failed') reject(new Error(ev.message));
        else if (ev.event === 'done') resolve(snapshot);
      }
    });
    child.on('exit', (code) => code !== 0 && reject(new Error(`ferry child exited ${code}`)));
  });
}

/** Native replication: empty replicas (one per source primary, all at once) until each has loaded. */
async function native(primaries) {
  const replicas = await Promise.all(primaries.map((_, i) => startRedis({ label: `bench-topo-native${i}` })));
  started.push(...replicas);
  const t0 = performance.now();
  await Promise.all(replicas.map((r, i) => r.client().replicaof(primaries[i].host, primaries[i].port)));
  await Promise.all(
    replicas.map((r) =>
      waitFor(
        async () => {
          const info = await r.info('replication');
          const p = await r.info('persistence');
          return info.master_link_status === 'up' && p.loading === '0';
        },
        { what: 'a native replica to load', timeoutMs: 300_000, intervalMs: 5 },
      ),
    ),
  );
  const ms = performance.now() - t0;
  await Promise.all(replicas.map((r) => r.stop()));
  return ms;
}

const started = [];
try {
  console.log('loading the standalone source and the 3-master cluster source with the same data…');
  const src = await startRedis({ label: 'bench-topo-src', config });
  started.push(src);
  const dst = await startRedis({ label: 'bench-topo-dst' });
  started.push(dst);
  const csrc = await startCluster({ masters: 3, config });
  started.push(csrc);
  const cdst = await startCluster({ masters: 3 });
  started.push(cdst);
  const c1 = src.client();
  const c2 = csrc.client();
  await Promise.all([populate(c1, data), populate(c2, data)]);
  c1.disconnect();
  c2.disconnect();

  await native([src]); // warm-up: the first sync after loading waits for the source's own state
  const nativeOne = await native([src]);
  const nativeThree = await native(await csrc.masters());
  const standalone = await runFerry({
    id: 'bench-standalone',
    source: { topology: 'standalone', options: { nodes: [src.endpoint] } },
    target: { endpoint: dst.endpoint },
  });
  const seed = csrc.seeds[0];
  // the shards' snapshots written on the task's thread, then each on a thread of its own
  const clusterRun = async (snapshotThreads) => {
    await Promise.all((await cdst.masters()).map((m) => m.command('FLUSHALL')));
    return runFerry({
      id: `bench-cluster-${snapshotThreads}`,
      source: {
        topology: 'cluster',
        options: { nodes: [{ host: seed.host, port: seed.port }], preferReplica: false },
      },
      target: { endpoint: { host: cdst.seeds[0].host, port: cdst.seeds[0].port }, cluster: true },
      options: { snapshotThreads },
    });
  };
  const oneThread = await clusterRun('never');
  const threads = await clusterRun('always');
  const s = (ms) => `${(ms / 1000).toFixed(2)} s`;
  console.log(
    `standalone → standalone snapshot   ${s(standalone.ms)}  (${standalone.shards[0].keys} keys; Ferry CPU ${s(standalone.cpuMs)})`,
  );
  for (const [name, run] of [
    ['task thread    ', oneThread],
    ['shard threads  ', threads],
  ])
    console.log(
      `cluster → cluster, ${name} ${s(run.ms)}  (Ferry CPU ${s(run.cpuMs)}; ${run.shards.map((x) => `${x.id} ${x.keys} keys, written in ${s(x.writeMs)}`).join('; ')})`,
    );
  console.log(
    `native replication (reference): one replica ${s(nativeOne)}, three replicas of the three masters at once ${s(nativeThree)} → ${(nativeThree / nativeOne).toFixed(2)}× (what this machine's cores give in parallel)`,
  );
  const auto = cpus().length > 2 ? threads : oneThread; // what snapshotThreads: 'auto' picks here
  const ratio = auto.ms / standalone.ms;
  console.log(
    `\nsnapshot time, 3 shards in parallel ÷ one: ${ratio.toFixed(2)}×  (target ≤ 0.6×${ratio <= 0.6 ? ': met' : ': NOT met'}; task thread ${(oneThread.ms / standalone.ms).toFixed(2)}×, shard threads ${(threads.ms / standalone.ms).toFixed(2)}×; 'auto' uses shard threads above 2 cores)`,
  );
  console.log(
    `(on ${cpus().length} cores the three source forks, three target loaders and Ferry share the CPUs: the ideal is about 1 / min(3, cores / 2))`,
  );
} finally {
  await Promise.all(started.map((s) => s.stop().catch(() => undefined)));
}
