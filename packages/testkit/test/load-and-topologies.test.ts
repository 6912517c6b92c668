import { afterAll, describe, expect, it } from 'vitest';
import {
  compareDeployments,
  DEFAULT_LOAD_MIX,
  formatDifferences,
  type LoadOp,
  populate,
  prefixPerDbMapping,
  type RedisCluster,
  type RedisServer,
  startCluster,
  startRedis,
  startReplica,
  startTwemproxy,
  type Twemproxy,
  waitFor,
  writeLoad,
} from '../src/index.js';

const stops: Array<{ stop(): Promise<void> }> = [];
async function track<T extends { stop(): Promise<void> }>(p: Promise<T>): Promise<T> {
  const v = await p;
  stops.push(v);
  return v;
}
afterAll(async () => {
  await Promise.all(stops.map((s) => s.stop()));
});

async function replicaCaughtUp(primary: RedisServer, replica: RedisServer): Promise<void> {
  await waitFor(
    async () => {
      const [p, r] = await Promise.all([primary.info('replication'), replica.info('replication')]);
      return p.master_repl_offset === r.master_repl_offset;
    },
    { what: 'the replica to reach the primary offset' },
  );
}

describe('writeLoad', () => {
  it('writes the whole mix, into several dbs, without errors; native replication matches under it', async () => {
    const primary = await track(startRedis());
    const replica = await track(startReplica(primary));
    await populate(primary.client(), { dbs: [0, 1], randomKeys: 500 });
    const load = await writeLoad(primary.client(), { opsPerSec: 3000, durationMs: 2000 });
    expect(load.errors, load.errorSamples.join('\n')).toBe(0);
    expect(load.ops).toBeGreaterThan(1000);
    for (const op of Object.keys(DEFAULT_LOAD_MIX) as LoadOp[]) expect(load.byOp[op], op).toBeGreaterThan(0);
    expect(
      await primary.client({ db: 1 }).exists('load:{sel:0}', 'load:{sel:1}', 'load:{sel:2}'),
    ).toBeGreaterThanOrEqual(0);
    const db1Loaded = (await primary.client({ db: 1 }).keys('load:*')).length;
    expect(db1Loaded).toBeGreaterThan(0);
    await replicaCaughtUp(primary, replica);
    const diffs = await compareDeployments(primary, replica, { dbs: [0, 1] });
    expect(diffs, formatDifferences(diffs)).toEqual([]);
  });

  it('stops when its signal aborts', async () => {
    const server = await track(startRedis());
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 300);
    const started = Date.now();
    const load = await writeLoad(server.client(), {
      opsPerSec: 1000,
      durationMs: 60_000,
      signal: controller.signal,
    });
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(load.ops).toBeGreaterThan(0);
  });

  it('runs against a cluster (SELECT skipped, transactions kept in one slot)', async () => {
    const cluster = await track(startCluster({ masters: 3 }));
    const load = await writeLoad(cluster.client(), { opsPerSec: 2000, durationMs: 1500 });
    expect(load.errors, load.errorSamples.join('\n')).toBe(0);
    expect(load.byOp.select).toBe(0);
    expect(load.byOp.multi).toBeGreaterThan(0);
  });
});

describe('compareDeployments across topologies', () => {
  let cluster: RedisCluster;
  let standalone: RedisServer;

  it('standalone ↔ 3-master cluster: equal, then one difference of each direction', async () => {
    [standalone, cluster] = await Promise.all([track(startRedis()), track(startCluster({ masters: 3 }))]);
    const spec = { randomKeys: 3000, expireBaseMs: Date.now() + 86_400_000 };
    await Promise.all([populate(standalone.client(), spec), populate(cluster.client(), spec)]);
    expect(await compareDeployments(standalone, cluster)).toEqual([]);
    expect(await compareDeployments(cluster, standalone)).toEqual([]);
    await cluster.client().del('rand:10');
    await cluster.client().set('new-on-cluster', '1');
    const diffs = await compareDeployments(standalone, cluster);
    expect(diffs.map((d) => `${d.kind}:${d.key}`).sort()).toEqual([
      'extra:new-on-cluster',
      'missing:rand:10',
    ]);
  });

  it('three source dbs into a cluster under a prefix per db', async () => {
    const source = await track(startRedis());
    const target = await track(startCluster({ masters: 3 }));
    const dbs = [0, 1, 2];
    const expireBaseMs = Date.now() + 86_400_000;
    await populate(source.client(), { dbs, randomKeys: 300, expireBaseMs });
    for (const db of dbs) {
      await populate(target.client(), {
        prefix: `db${db}:`,
        valuesOf: db,
        randomKeys: 300,
        expireBaseMs,
        longKeyBytes: 20_480 + 4,
      });
    }
    const mapping = prefixPerDbMapping((db) => `db${db}:`, dbs);
    const diffs = await compareDeployments(source, target, { dbs, mapping });
    expect(diffs, formatDifferences(diffs)).toEqual([]);
    await target.client().hset('db2:hash:small', 'name', 'changed');
    const after = await compareDeployments(source, target, { dbs, mapping });
    expect(after.map((d) => `${d.kind}:db${d.db}:${d.key}`)).toEqual(['value:db2:hash:small']);
  });

  it('twemproxy (3 backends) ↔ cluster', async () => {
    const backends = await Promise.all([track(startRedis()), track(startRedis()), track(startRedis())]);
    const proxy: Twemproxy = await track(startTwemproxy({ backends }));
    const other = await track(startCluster({ masters: 3 }));
    // through the proxy, as an application would write (no streams: twemproxy 0.5 has no XADD)
    const spec = { catalogue: false, randomKeys: 2000, expireBaseMs: Date.now() + 86_400_000 };
    await populate(proxy.client(), { ...spec, serverVersion: backends[0]?.version ?? '' });
    await populate(other.client(), spec);
    expect((await Promise.all(backends.map((b) => b.client().dbsize()))).every((n) => n > 0)).toBe(true);
    expect(await compareDeployments(proxy, other)).toEqual([]);
    await backends[1]?.client().set('stray', '1');
    expect((await compareDeployments(proxy, other)).map((d) => `${d.kind}:${d.key}`)).toEqual([
      'missing:stray',
    ]);
  });
});
