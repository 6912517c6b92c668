import { populate, type RedisServer, serverScope, startTwemproxy, waitFor, writeLoad } from '@ferry/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { verify } from '../src/index.js';

const servers = serverScope();
afterAll(() => servers.stop());
const ep = (s: RedisServer) => ({ endpoint: { host: s.host, port: s.port } });

/** Two servers holding the same data (populate is deterministic, TTLs absolute). */
async function twins(spec: Parameters<typeof populate>[1] = {}): Promise<[RedisServer, RedisServer]> {
  const [a, b] = await Promise.all([servers.redis({ label: 'source' }), servers.redis({ label: 'target' })]);
  await Promise.all([populate(a.client(), spec), populate(b.client(), spec)]);
  return [a, b];
}

describe('verify', () => {
  it('finds no difference between equal deployments, in every mode', async () => {
    const [s, t] = await twins({ dbs: [0, 1], randomKeys: 2000 });
    for (const mode of ['outline', 'length', 'full'] as const) {
      const r = await verify({ source: ep(s), target: ep(t), mode, rounds: 1 });
      expect(
        r.differences,
        JSON.stringify(r.details.slice(0, 5), (_, v) =>
          v?.type === 'Buffer' ? Buffer.from(v.data).toString() : v,
        ),
      ).toBe(0);
      expect(r.keysChecked).toBeGreaterThan(4000);
    }
  });

  it('reads values up to valueLimit only: longer ones by type, length and TTL, and counted', async () => {
    const [s, t] = await Promise.all([
      servers.redis({ label: 'source' }),
      servers.redis({ label: 'target' }),
    ]);
    const fields = Array.from({ length: 2000 }, (_, i) => [`f${i}`, `v${i}`]).flat();
    for (const c of [s.client(), t.client()]) {
      await c.hset('big', ...fields);
      await c.rpush('small', 'a', 'b');
      await c.set('long', 'x'.repeat(100_000));
      c.disconnect();
    }
    const tc = t.client();
    await tc.hset('big', 'f1999', 'changed'); // same length, one value differs
    await tc.setrange('long', 99_999, 'y');
    tc.disconnect();
    const all = await verify({ source: ep(s), target: ep(t), mode: 'full', rounds: 1 });
    expect(all.counts.value).toBe(2);
    expect(all.valuesNotRead).toBe(0);
    const limited = await verify({
      source: ep(s),
      target: ep(t),
      mode: 'full',
      rounds: 1,
      valueLimit: { elements: 1000, bytes: 64 << 10 },
    });
    expect(limited.differences).toBe(0);
    expect(limited.valuesNotRead).toBe(2); // "big" and "long"; "small" was read
    expect(limited.keysChecked).toBe(all.keysChecked);
  });

  it('reports each seeded difference once, with its kind; outline and length report what they can see', async () => {
    const [s, t] = await twins({ randomKeys: 0, bigKeys: { elements: 1_000_000, types: ['hash'] } });
    const src = s.client();
    const tgt = t.client();
    await Promise.all(
      [src, tgt].map(async (c) => {
        await c.set('v:string', 'abcdef');
        await c.rpush('v:list', 'a', 'b', 'c');
        await c.rpush('v:list2', 'a', 'b');
        await c.sadd('v:set', 'x', 'y', 'z');
        await c.zadd('v:zset', 1, 'a', 2, 'b');
        await c.hset('v:hash', 'f', '1', 'g', '2');
        await c.xadd('v:stream', '1-1', 'f', 'v');
        await c.set('v:gone', '1');
        await c.set('v:retyped', '1');
        await c.set('v:ttl', '1');
        await c.pexpireat('v:ttl', Date.now() + 3_600_000);
      }),
    );
    // the target drifts: a value of each type, a removed key, an added one, a retyped one, a TTL,
    // one element of a 1 M-field hash, and one list longer
    await tgt.set('v:string', 'abcdeX');
    await tgt.lset('v:list', 1, 'B');
    await tgt.srem('v:set', 'z');
    await tgt.sadd('v:set', 'w');
    await tgt.zadd('v:zset', 5, 'b');
    await tgt.hset('v:hash', 'g', '3');
    await tgt.xgroup('CREATE', 'v:stream', 'readers', '0');
    await tgt.del('v:gone');
    await tgt.set('v:added', '1');
    await tgt.del('v:retyped');
    await tgt.sadd('v:retyped', '1');
    await tgt.pexpireat('v:ttl', Date.now() + 7_200_000);
    await tgt.hset('big:hash', 'f777777', 'changed');
    await tgt.rpush('v:list2', 'c');

    const kinds = (r: Awaited<ReturnType<typeof verify>>): Record<string, string> =>
      Object.fromEntries(r.details.map((d) => [d.key.toString(), d.kind]));
    const full = await verify({ source: ep(s), target: ep(t), mode: 'full', rounds: 2, intervalMs: 100 });
    expect(kinds(full)).toEqual({
      'v:string': 'value',
      'v:list': 'value',
      'v:set': 'value',
      'v:zset': 'value',
      'v:hash': 'value',
      'v:stream': 'value',
      'v:gone': 'missing',
      'v:added': 'extra',
      'v:retyped': 'type',
      'v:ttl': 'ttl',
      'big:hash': 'value',
      'v:list2': 'length',
    });
    expect(full.details).toHaveLength(12); // each once
    expect(full.details.find((d) => d.key.toString() === 'big:hash')?.detail).toContain('f777777');
    expect(full.counts).toEqual({ missing: 1, extra: 1, type: 1, length: 1, value: 7, ttl: 1 });

    const outline = await verify({ source: ep(s), target: ep(t), mode: 'outline', rounds: 1 });
    expect(kinds(outline)).toEqual({ 'v:gone': 'missing', 'v:added': 'extra', 'v:retyped': 'type' });
    const length = await verify({ source: ep(s), target: ep(t), mode: 'length', rounds: 1 });
    expect(kinds(length)).toEqual({
      'v:gone': 'missing',
      'v:added': 'extra',
      'v:retyped': 'type',
      'v:list2': 'length',
      'v:ttl': 'ttl',
    });
    src.disconnect();
    tgt.disconnect();
  });

  it('reports nothing false for keys written and expiring during the check, after 3 rounds', async () => {
    const source = await servers.redis({ label: 'source' });
    const replica = await servers.redis({ label: 'replica' });
    const src = source.client();
    await populate(src, { randomKeys: 5000 });
    // keys that expire while the check runs
    const p = src.pipeline();
    for (let i = 0; i < 2000; i++) p.set(`short:${i}`, 'x', 'PX', 200 + (i % 1500));
    await p.exec();
    // native replication keeps the target in step, a little behind
    await replica.command('REPLICAOF', source.host, String(source.port));
    await waitFor(async () => (await replica.info('replication')).master_link_status === 'up', {
      what: 'the replica to sync',
    });
    const load = writeLoad(source.client(), { opsPerSec: 3000, durationMs: 4000 });
    const r = await verify({
      source: ep(source),
      target: ep(replica),
      mode: 'full',
      rounds: 3,
      intervalMs: 1000,
      keysPerSec: 3000,
    });
    await load;
    expect(r.perRound[0]).toBeGreaterThanOrEqual(0);
    expect(
      r.differences,
      JSON.stringify(r.details.slice(0, 5).map((d) => [d.kind, d.key.toString(), d.detail])),
    ).toBe(0);
    src.disconnect();
  });

  it('compares a standalone source with a 3-master cluster under a db map with a prefix per db', async () => {
    const source = await servers.redis({ label: 'source' });
    const cluster = await servers.cluster({ masters: 3 });
    // (no 20 KB key name: populate keeps that one at 20 KB with a prefix, so it is no prefix mapping)
    await populate(source.client(), { dbs: [0, 1, 2], randomKeys: 600, longKeyBytes: 0 });
    for (const db of [0, 1, 2])
      await populate(cluster.client(), {
        dbs: [0],
        valuesOf: db,
        prefix: `db${db}:`,
        randomKeys: 600,
        longKeyBytes: 0,
      });
    const dbMap = {
      0: { db: 0, prefix: 'db0:' },
      1: { db: 0, prefix: 'db1:' },
      2: { db: 0, prefix: 'db2:' },
    };
    const target = {
      endpoint: { host: cluster.nodes[0]?.host ?? '', port: cluster.nodes[0]?.port ?? 0 },
      cluster: true,
    };
    const clean = await verify({ source: ep(source), target, dbMap, mode: 'full', rounds: 1 });
    expect(
      clean.differences,
      JSON.stringify(
        clean.details.map((d) => [
          d.kind,
          d.db,
          d.key.toString().slice(0, 50),
          d.targetKey.toString().slice(0, 50),
          d.detail,
        ]),
      ),
    ).toBe(0);
    // and the other way round: the cluster as the source, one db back on the standalone side
    await cluster.client().set('db1:only-on-cluster', 'x');
    const back = await verify({
      source: target,
      target: ep(source),
      mode: 'outline',
      rounds: 1,
      filter: { include: [{ prefix: 'db1:' }] },
      dbMap: { 0: { db: 1 } },
    });
    expect(back.details.map((d) => [d.kind, d.key.toString()])).toContainEqual([
      'missing',
      'db1:only-on-cluster',
    ]);
  });

  it('compares the backends of a twemproxy pool with a 3-master cluster, both ways', async () => {
    const backends = await Promise.all([1, 2, 3].map((i) => servers.redis({ label: `tw${i}` })));
    const proxy = servers.adopt(await startTwemproxy({ backends }));
    const cluster = await servers.cluster({ masters: 3 });
    // the same data written through the proxy (hashed over the backends) and into the cluster
    const spec = { catalogue: false, randomKeys: 3000, expireBaseMs: Date.now() + 86_400_000 };
    await populate(proxy.client(), { ...spec, serverVersion: backends[0]?.version ?? '' });
    await populate(cluster.client(), spec);
    const seed = cluster.seeds[0] as { host: string; port: number };
    const sides = {
      source: { shards: backends.map((b) => ({ host: b.host, port: b.port })) },
      target: { endpoint: { host: seed.host, port: seed.port }, cluster: true },
    };
    let r = await verify({ ...sides, mode: 'full', rounds: 1 });
    expect(r.differences).toBe(0);
    expect(r.keysChecked).toBeGreaterThanOrEqual(3000);
    // one changed on the target, one removed from a backend, one only on the target
    const c = cluster.client();
    const keys = (await backends[1]?.client().keys('rand:*')) ?? [];
    const [changed, removed] = keys as [string, string];
    const type = await c.type(changed);
    const originalLength = type === 'string' ? ((await c.get(changed)) ?? '').length : 0;
    if (type === 'string') await c.set(changed, 'changed');
    else await c.del(changed);
    await backends[1]?.client().del(removed);
    await c.set('only-on-target', '1');
    r = await verify({ ...sides, mode: 'full', rounds: 2, intervalMs: 100 });
    const seen = r.details.map((d) => `${d.kind}:${d.targetKey.toString()}`).sort();
    // a string of another length is a "length" difference (that stage runs before values)
    const kindOfChange =
      type === 'string' ? (originalLength === 'changed'.length ? 'value' : 'length') : 'missing';
    expect(seen).toEqual([`${kindOfChange}:${changed}`, `extra:${removed}`, 'extra:only-on-target'].sort());
    // the other direction: the cluster as the source, the backends as the target
    r = await verify({ source: sides.target, target: sides.source, mode: 'outline', rounds: 1 });
    expect(r.counts.missing).toBe(2); // the removed key and the one only in the cluster
  });
});
