// pnpm bench check: the whole precheck suite against a 3-master cluster source (one replica each)
// and a 3-master cluster target, as a ratio to `redis-cli --cluster check` of both clusters in the
// same run (the operator's own sanity check of the same nodes), and to the checks run one after
// the other (what running them concurrently saves). Target from the issue: under 5 s.
import { execFileSync } from 'node:child_process';
import { createEngine } from '../../packages/core/dist/index.js';
import { populate, startCluster } from '../../packages/testkit/dist/index.js';
import { builtinChecks } from '../../plugins/checks-builtin/dist/index.js';

const runs = Number(process.env.FERRY_BENCH_RUNS ?? 3);
const [source, target] = await Promise.all([
  startCluster({ masters: 3, replicasPerMaster: 1 }),
  startCluster({ masters: 3 }),
]);
try {
  await populate(source.client(), { catalogue: false, randomKeys: 100_000, ttlFraction: 0.2 });

  // The cluster's shards as a source topology (the cluster source plugin's discovery does the same
  // from CLUSTER SHARDS; this keeps the bench to the checks themselves).
  const seed = source.nodes[0];
  const shardsOf = async () => {
    const rows = String(await seed.command('CLUSTER', 'NODES'))
      .trim()
      .split('\n')
      .map((l) => l.split(' '));
    const ep = (a) => {
      const [host, port] = a.split('@')[0].split(':');
      return { host, port: Number(port) };
    };
    return rows
      .filter((f) => f[2].includes('master'))
      .map((m) => ({
        id: m[0],
        primary: ep(m[1]),
        replicas: rows.filter((r) => r[3] === m[0]).map((r) => ep(r[1])),
      }));
  };
  const topology = {
    kind: 'source-topology',
    topology: 'bench-cluster',
    meta: { name: 'bench-cluster', version: '0.0.0', engine: '*' },
    parseOptions: () => null,
    discover: shardsOf,
  };
  const engine = createEngine({ plugins: [topology, ...builtinChecks()] });
  const tseed = target.nodes[0];

  const best = (xs) => Math.min(...xs);
  const ferry = [];
  const sequential = [];
  let last;
  for (let i = 0; i < runs; i++) {
    const task = engine.createTask({
      id: `bench-check-${i}`,
      source: { topology: 'bench-cluster', options: null },
      target: { endpoint: { host: tseed.host, port: tseed.port }, cluster: true },
    });
    const t0 = performance.now();
    last = await task.check();
    ferry.push(performance.now() - t0);
    sequential.push(last.checks.reduce((a, c) => a + c.durationMs, 0));
  }
  const cli = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    for (const c of [source, target]) {
      const n = c.nodes[0];
      execFileSync(n.build.cli, ['--cluster', 'check', `${n.host}:${n.port}`], { stdio: 'pipe' });
    }
    cli.push(performance.now() - t0);
  }
  const f = best(ferry);
  const r = best(cli);
  const s = best(sequential);
  console.log(
    `pnpm bench check: 14 checks, 3-master cluster (+1 replica each, 100 000 keys) → 3-master cluster, best of ${runs}\n`,
  );
  console.log(
    `precheck suite        ${(f / 1000).toFixed(2)} s  (${last.status}; target < 5 s: ${f < 5000 ? 'met' : 'NOT met'})`,
  );
  console.log(
    `redis-cli --cluster check of both clusters  ${(r / 1000).toFixed(2)} s  → ratio ${(f / r).toFixed(2)}×`,
  );
  console.log(
    `the same checks one after the other         ${(s / 1000).toFixed(2)} s  → concurrency saves ${((1 - f / s) * 100).toFixed(0)}%`,
  );
  for (const w of last.results.filter((x) => x.status !== 'pass'))
    console.log(`  ${w.status} ${w.checkId}: ${w.message}`);
  console.log('\nslowest checks:');
  for (const c of [...last.checks].sort((a, b) => b.durationMs - a.durationMs).slice(0, 5))
    console.log(`  ${c.id.padEnd(20)} ${c.durationMs} ms`);
} finally {
  await Promise.all([source.stop(), target.stop()]);
}
