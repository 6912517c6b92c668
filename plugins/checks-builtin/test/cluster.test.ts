import type { Endpoint, ShardSpec, SourceTopologyPlugin } from '@ferry/core';
import { populate, type RedisCluster, type RedisServer, serverScope } from '@ferry/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { endpointOf, of, precheck, show, statusOf } from './helpers.js';

const servers = serverScope();
afterAll(() => servers.stop());
const server = servers.redis;
const cluster = servers.cluster;

/**
 * A cluster source as a test-local topology plugin: one shard per master with its replicas, read
 * from the cluster's own CLUSTER NODES. (The real cluster source plugin is its own package; this
 * one only hands the checks the shards such a plugin finds.)
 */
function clusterShards(c: RedisCluster): SourceTopologyPlugin<null> {
  return {
    kind: 'source-topology',
    topology: 'test-cluster',
    meta: { name: 'test-cluster', version: '0.0.0', engine: '*' },
    parseOptions: () => null,
    async discover(): Promise<ShardSpec[]> {
      const text = String(await (c.nodes[0] as RedisServer).command('CLUSTER', 'NODES'));
      const rows = text
        .trim()
        .split('\n')
        .map((l) => l.split(' '));
      const ep = (addr: string): Endpoint => {
        const [host, port] = (addr.split('@')[0] ?? '').split(':');
        return { host: host as string, port: Number(port) };
      };
      return rows
        .filter((f) => f[2]?.includes('master'))
        .map((m) => ({
          id: m[0] as string,
          primary: ep(m[1] as string),
          replicas: rows.filter((r) => r[3] === m[0]).map((r) => ep(r[1] as string)),
        }));
    },
  };
}

describe('prechecks with clusters', () => {
  it('runs the whole suite on a 3-master cluster source and target, then fails an uncovered slot', async () => {
    const [source, target] = await Promise.all([
      cluster({ masters: 3, replicasPerMaster: 1 }),
      cluster({ masters: 3 }),
    ]);
    await populate(source.client(), { catalogue: false, randomKeys: 3000 });
    const seed = target.nodes[0] as RedisServer;
    const run = {
      topology: { topology: 'test-cluster', options: null },
      plugins: [clusterShards(source)],
      target: endpointOf(seed),
      targetCluster: true,
    };
    const report = await precheck(run);
    expect(report.status, show(report)).toBe('pass');
    // every source node and every target master was reached
    expect(of(report, 'connectivity')).toHaveLength(6 + 3);
    expect(of(report, 'cluster-coverage').map((r) => r.message)).toEqual([
      'the source cluster covers all 16384 slots and is ok',
      'the target cluster covers all 16384 slots and is ok',
    ]);
    // the checks run concurrently: the whole run takes about as long as its slowest check
    const slowest = Math.max(...report.checks.map((c) => c.durationMs));
    const sum = report.checks.reduce((a, c) => a + c.durationMs, 0);
    console.log(
      `precheck of a 3-master cluster pair: ${report.durationMs} ms (slowest check ${slowest} ms, all checks one after the other would be ${sum} ms)`,
    );

    // a slot without a master on the target
    const owned = (await seed.command('CLUSTER', 'SLOTS')) as Array<[number, number, [string, number]]>;
    const mine = owned.find((r) => Number(r[2][1]) === seed.port) as [number, number, unknown];
    await seed.command('CLUSTER', 'DELSLOTS', String(mine[0]));
    const broken = await precheck(run);
    expect(statusOf(broken, 'cluster-coverage'), show(broken)).toBe('fail');
    expect(of(broken, 'cluster-coverage').find((r) => r.status === 'fail')?.message).toMatch(
      /the target cluster .* with 16383 of 16384 slots assigned/,
    );
    await seed.command('CLUSTER', 'ADDSLOTS', String(mine[0]));
  });

  it('standalone with three dbs into a cluster: fails without a db map, passes with one prefix per db; warns on cross-slot workload', async () => {
    const source = await server({ label: 'source' });
    const target = await cluster({ masters: 3 });
    await populate(source.client(), { catalogue: false, dbs: [0, 1, 2], randomKeys: 300 });
    // what an application does that a cluster refuses across slots
    await source.command('MSET', 'a', '1', 'b', '2');
    await source.command('EVAL', 'return 1', '0');
    const c = source.client();
    await c.multi().set('t', '1').exec();
    c.disconnect();
    const seed = endpointOf(target.nodes[0] as RedisServer);
    const none = await precheck({ source: [endpointOf(source)], target: seed, targetCluster: true });
    expect(statusOf(none, 'databases'), show(none)).toBe('fail');
    expect(of(none, 'databases')[0]?.message).toMatch(
      /db 0 only, and source db\(s\) 1 \(\d+ keys\), 2 \(\d+ keys\)/,
    );
    expect(of(none, 'databases')[0]?.advice).toContain('--db-map 0=0,1=0+db1:,2=0+db2:');
    expect(statusOf(none, 'cluster-compat')).toBe('warn');
    expect(of(none, 'cluster-compat')[0]?.message).toMatch(/MSET ×1.*EVAL ×1.*MULTI ×1/);

    const mapped = await precheck({
      source: [endpointOf(source)],
      target: seed,
      targetCluster: true,
      options: { dbMap: { 0: { db: 0 }, 1: { db: 0, prefix: 'db1:' }, 2: { db: 0, prefix: 'db2:' } } },
    });
    expect(statusOf(mapped, 'databases'), show(mapped)).toBe('pass');
    const collide = await precheck({
      source: [endpointOf(source)],
      target: seed,
      targetCluster: true,
      options: { dbMap: { '*': { db: 0 } } },
    });
    expect(statusOf(collide, 'databases'), show(collide)).toBe('warn');
    expect(of(collide, 'databases')[0]?.message).toMatch(/equal key names overwrite each other/);
  });

  it('fails a target given as a cluster that is not one, and a cluster node given as standalone', async () => {
    const source = await server({ label: 'source' });
    const plain = await server({ label: 'plain' });
    const c = await cluster({ masters: 3 });
    const asCluster = await precheck({
      source: [endpointOf(source)],
      target: endpointOf(plain),
      targetCluster: true,
    });
    expect(statusOf(asCluster, 'cluster-coverage')).toBe('fail');
    expect(of(asCluster, 'cluster-coverage')[0]?.message).toMatch(/not a cluster node/);
    const asPlain = await precheck({
      source: [endpointOf(source)],
      target: endpointOf(c.nodes[0] as RedisServer),
    });
    expect(statusOf(asPlain, 'cluster-coverage')).toBe('fail');
    expect(of(asPlain, 'cluster-coverage')[0]?.advice).toMatch(/--target-cluster/);
  });
});
