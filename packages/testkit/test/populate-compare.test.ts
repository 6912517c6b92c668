import type { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  compareDeployments,
  type Difference,
  formatDifferences,
  type PopulateResult,
  type PopulateSpec,
  populate,
  type RedisServer,
  startRedis,
} from '../src/index.js';

const DBS = [0, 1, 2];
const EXPIRE_BASE = Date.now() + 86_400_000;
const SPEC: PopulateSpec = { dbs: DBS, randomKeys: 2000, expireBaseMs: EXPIRE_BASE };

/** Encodings each catalogue entry may have, by server era (OBJECT ENCODING names). */
const ENCODINGS: Record<string, string[]> = {
  'string:int': ['int'],
  'string:int-min': ['int'],
  'string:embstr': ['embstr'],
  'string:raw': ['raw'],
  'string:large': ['raw'],
  'string:compressible': ['raw'],
  'string:binary': ['embstr'],
  'string:empty': ['embstr'],
  'string:float': ['embstr'],
  'list:small': ['listpack', 'quicklist', 'ziplist'],
  'list:large': ['quicklist', 'linkedlist'],
  'list:ints': ['listpack', 'quicklist', 'ziplist'],
  'list:big-element': ['quicklist', 'linkedlist'],
  'list:plain-nodes': ['quicklist'],
  'set:intset': ['intset'],
  'set:small': ['listpack', 'hashtable'],
  'set:large': ['hashtable'],
  'set:intset-overflow': ['hashtable'],
  'zset:small': ['listpack', 'ziplist'],
  'zset:large': ['skiplist'],
  'zset:long-member': ['skiplist'],
  'hash:small': ['listpack', 'ziplist'],
  'hash:large': ['hashtable'],
  'hash:long-value': ['hashtable'],
  'hash:ints': ['listpack', 'ziplist'],
  'stream:groups': ['stream'],
  'stream:empty-with-group': ['stream'],
  'stream:trimmed': ['stream'],
  'key:binary': ['embstr'],
  'key:utf8': ['listpack', 'ziplist'],
  'key:crlf': ['listpack', 'quicklist', 'ziplist'],
  'key:long': ['embstr'],
};

function only(diffs: Difference[], kind: Difference['kind'], key: string): void {
  expect(diffs, formatDifferences(diffs)).toHaveLength(1);
  expect(diffs[0]?.kind).toBe(kind);
  expect(diffs[0]?.key.toString()).toBe(key);
}

describe('populate + compareDeployments on two servers loaded identically', () => {
  let source: RedisServer;
  let target: RedisServer;
  let result: PopulateResult;
  let t: (db?: number) => Redis;

  beforeAll(async () => {
    [source, target] = await Promise.all([startRedis(), startRedis()]);
    [result] = await Promise.all([populate(source.client(), SPEC), populate(target.client(), SPEC)]);
    t = (db = 0) => target.client({ db });
  });
  afterAll(async () => {
    await Promise.all([source?.stop(), target?.stop()]);
  });
  beforeEach(async () => {
    // every test starts from identical servers
    await target.client().flushall();
    await populate(target.client(), SPEC);
  });

  it('writes every type in every encoding into each db, with TTLs, binary and 20 KB keys', async () => {
    expect(result.skipped).toEqual([]);
    expect(Object.keys(result.byDb).map(Number)).toEqual(DBS);
    for (const type of ['string', 'list', 'set', 'zset', 'hash', 'stream'])
      expect(result.byType[type]).toBeGreaterThan(0);
    expect(result.withTtl).toBeGreaterThan(0.15 * result.keys);
    const intents = new Set(result.catalogue.map((c) => c.intent));
    expect([...intents].sort()).toEqual(Object.keys(ENCODINGS).sort());
    for (const entry of result.catalogue) {
      const c = source.client({ db: entry.db });
      const encoding = String(await c.call('OBJECT', 'ENCODING', entry.key));
      expect(ENCODINGS[entry.intent], `${entry.intent} is ${encoding}`).toContain(encoding);
      expect(await c.type(entry.key)).toBe(entry.type);
      if (entry.ttl) expect(await c.pttl(entry.key)).toBeGreaterThan(3_600_000);
    }
    const long = result.catalogue.find((c) => c.intent === 'key:long');
    expect(long?.key.length).toBe(20_480);
    const binary = result.catalogue.find((c) => c.intent === 'key:binary');
    expect(binary?.key.includes(Buffer.from([0, 1, 13, 10, 0xff]))).toBe(true);
    // 4 elements, 6 KB in all, fit one 8 KB listpack node; as PLAIN nodes the two big ones stand alone
    const plain = result.catalogue.find((c) => c.intent === 'list:plain-nodes');
    const debug = String(await source.client().call('DEBUG', 'OBJECT', plain?.key ?? ''));
    expect(Number(/ql_nodes:(\d+)/.exec(debug)?.[1])).toBeGreaterThanOrEqual(3);
    expect(Number(await source.client().dbsize())).toBe(result.byDb[0]);
  });

  it('finds no difference', async () => {
    const diffs = await compareDeployments(source, target, { dbs: DBS });
    expect(diffs, formatDifferences(diffs)).toEqual([]);
  });

  it('reports a changed value', async () => {
    await t(1).set('string:raw', 'changed');
    only(await compareDeployments(source, target, { dbs: DBS }), 'value', 'string:raw');
  });

  it('reports a removed key as missing', async () => {
    await t(2).del('hash:large');
    only(await compareDeployments(source, target, { dbs: DBS }), 'missing', 'hash:large');
  });

  it('reports an added key as extra', async () => {
    await t(0).set('only-on-target', 'x');
    only(await compareDeployments(source, target, { dbs: DBS }), 'extra', 'only-on-target');
  });

  it('reports a retyped key', async () => {
    await t(0).del('list:small');
    await t(0).sadd('list:small', 'a');
    only(await compareDeployments(source, target, { dbs: DBS }), 'type', 'list:small');
  });

  it('reports another TTL, and a TTL removed', async () => {
    await t(0).pexpire('string:raw', 60_000);
    only(await compareDeployments(source, target, { dbs: DBS }), 'ttl', 'string:raw');
    await t(0).persist('string:raw');
    await t(0).persist('hash:small');
    const diffs = await compareDeployments(source, target, { dbs: DBS });
    expect(diffs.map((d) => `${d.kind}:${d.key}`)).toEqual(['ttl:hash:small']);
  });

  it('reports a key in the wrong db as missing in one and extra in the other', async () => {
    await t(1).rename('set:small', 'moved');
    await t(1).move('moved', 2);
    const diffs = await compareDeployments(source, target, { dbs: DBS });
    expect(diffs.map((d) => `${d.kind}:db${d.db}:${d.key}`).sort()).toEqual([
      'extra:db2:moved',
      'missing:db1:set:small',
    ]);
  });

  it.each([
    ['list', 'list:large', (c: Redis) => c.lset('list:large', 1500, 'changed')],
    [
      'set',
      'set:large',
      (c: Redis) => c.multi().srem('set:large', 'db0:m10').sadd('set:large', 'other').exec(),
    ],
    ['zset', 'zset:small', (c: Redis) => c.zadd('zset:small', '-inf', 'pos-inf')],
    ['hash', 'hash:large', (c: Redis) => c.hset('hash:large', 'f999', 'changed')],
    ['stream entries', 'stream:groups', (c: Redis) => c.xdel('stream:groups', '1700000000300-0')],
    ['stream groups', 'stream:groups', (c: Redis) => c.xack('stream:groups', 'g1', '1700000000030-0')],
    ['binary string', 'string:binary', (c: Redis) => c.setrange('string:binary', 3, '\u0000')],
  ] as const)('sees a change inside a %s', async (_what, key, change) => {
    await change(t(0));
    const diffs = await compareDeployments(source, target, { dbs: DBS });
    only(diffs, 'value', key);
  });
});

describe('compareDeployments on big keys', () => {
  let source: RedisServer;
  let target: RedisServer;
  beforeAll(async () => {
    [source, target] = await Promise.all([startRedis(), startRedis()]);
    const spec: PopulateSpec = {
      catalogue: false,
      bigKeys: { elements: 1_000_000, types: ['hash', 'list'] },
    };
    await Promise.all([populate(source.client(), spec), populate(target.client(), spec)]);
  });
  afterAll(async () => {
    await Promise.all([source?.stop(), target?.stop()]);
  });

  it('finds one changed element among a million, in a hash and in a list', async () => {
    expect(await source.client().hlen('big:hash')).toBe(1_000_000);
    expect(await compareDeployments(source, target)).toEqual([]);
    await target.client().hset('big:hash', 'f777777', 'changed');
    await target.client().lset('big:list', 654_321, 'changed');
    const diffs = await compareDeployments(source, target);
    expect(diffs.map((d) => `${d.kind}:${d.key}:${d.detail}`).sort()).toEqual([
      'value:big:hash:hash field "f777777": "v777777" ≠ "changed"',
      'value:big:list:list element 654321: "e654321" ≠ "changed"',
    ]);
  });
});
