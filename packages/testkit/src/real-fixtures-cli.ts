#!/usr/bin/env node
/**
 * Writes RDB files with real servers of the newer releases, for tests that run where no such
 * server does (CI): each server (FERRY_REDIS_BUILDS, see resolveRedisBuild) is given the same set
 * of keys — every type in each of its encodings, key and hash-field TTLs, a stream with a consumer
 * group (and idempotent producers where the server has them), two dbs — then SAVEs; the file is
 * copied to `<dir>/<name>.rdb` and what the server holds, read back key by key with its own
 * commands, to `<name>.json` (see readCatalog). Nothing of Ferry's runs here.
 *
 *   FERRY_REDIS_BUILDS=~/ferry-builds pnpm fixtures:real apps/cli/test/fixtures
 */
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { resolveRedisBuild } from './binaries.js';
import { startRedis } from './servers/redis.js';

/** A far-off instant (2100-01-01), so the files' TTLs stay in the future wherever they are read. */
const FAR = 4_102_444_800_000;

/** The same keys on every server; `idmp` where streams keep idempotent producers (Redis 8.6). */
async function writeCatalog(c: Redis, idmp: boolean): Promise<void> {
  await c.select(0);
  await c.set('str:int', '12345');
  await c.set('str:small', 'hello');
  await c.set('str:lzf', `${'abcdefgh'.repeat(40)}!`);
  await c.set('str:ttl', 'expires', 'PXAT', FAR);
  await c.rpush('list:small', 'a', 'b', 'c');
  await c.rpush('list:big', ...Array.from({ length: 600 }, (_, i) => `element-${i}-${'x'.repeat(20)}`));
  await c.sadd('set:int', ...Array.from({ length: 10 }, (_, i) => i * 7));
  await c.sadd('set:small', 'a', 'b', 'c');
  await c.sadd('set:big', ...Array.from({ length: 200 }, (_, i) => `member-${i}`));
  await c.zadd('zset:small', 1, 'a', 2.5, 'b', -3, 'c');
  await c.zadd('zset:big', ...Array.from({ length: 200 }, (_, i) => [i / 4, `m${i}`]).flat());
  await c.hset('hash:small', 'f1', 'v1', 'f2', 'v2', 'f3', '3');
  await c.hset('hash:big', ...Array.from({ length: 600 }, (_, i) => [`field${i}`, `value${i}`]).flat());
  await c.hset('hash:ttl-small', 'a', '1', 'b', '2', 'c', '3');
  await c.call('HPEXPIREAT', 'hash:ttl-small', FAR, 'FIELDS', 2, 'a', 'b');
  await c.hset('hash:ttl-big', ...Array.from({ length: 300 }, (_, i) => [`f${i}`, `v${i}`]).flat());
  await c.call(
    'HPEXPIREAT',
    'hash:ttl-big',
    FAR + 1000,
    'FIELDS',
    10,
    ...Array.from({ length: 10 }, (_, i) => `f${i}`),
  );
  await c.pexpireat('hash:ttl-big', FAR + 5000);
  for (let i = 1; i <= 5; i++)
    await c.xadd('stream', `${1_700_000_000_000 + i}-0`, 'n', String(i), 'body', `event ${i}`);
  await c.xgroup('CREATE', 'stream', 'g1', '0');
  await c.xreadgroup('GROUP', 'g1', 'c1', 'COUNT', 3, 'STREAMS', 'stream', '>');
  await c.xack('stream', 'g1', `${1_700_000_000_001}-0`);
  if (idmp) {
    await c.call('XADD', 'stream:idmp', 'IDMP', 'producer-1', 'order-1', '*', 'item', 'a');
    await c.call('XADD', 'stream:idmp', 'IDMP', 'producer-1', 'order-2', '*', 'item', 'b');
  }
  await c.select(3);
  await c.set('db3:str', 'in db 3');
  await c.rpush('db3:list', 'x', 'y');
  await c.select(0);
}

export interface CatalogKey {
  db: number;
  key: string;
  type: string;
  /** PEXPIRETIME: ms since the epoch, -1 none. */
  expireAt: number;
  value: unknown;
}

/** What the server holds, in a form that does not depend on encodings or on the order of reads. */
async function readCatalog(c: Redis, dbs: number[]): Promise<CatalogKey[]> {
  const out: CatalogKey[] = [];
  for (const db of dbs) {
    await c.select(db);
    const keys = (await c.keys('*')).sort();
    for (const key of keys) {
      const type = await c.type(key);
      const expireAt = Number(await c.call('PEXPIRETIME', key));
      let value: unknown;
      if (type === 'string') value = await c.get(key);
      else if (type === 'list') value = await c.lrange(key, 0, -1);
      else if (type === 'set') value = (await c.smembers(key)).sort();
      else if (type === 'zset') {
        const flat = await c.zrange(key, 0, -1, 'WITHSCORES');
        value = Array.from({ length: flat.length / 2 }, (_, i) => [flat[2 * i], Number(flat[2 * i + 1])]);
      } else if (type === 'hash') {
        const all = await c.hgetall(key);
        const fields = Object.keys(all).sort();
        const ttls = (await c.call('HPEXPIRETIME', key, 'FIELDS', fields.length, ...fields)) as number[];
        value = fields.map((f, i) => (Number(ttls[i]) > 0 ? [f, all[f], Number(ttls[i])] : [f, all[f]]));
      } else if (type === 'stream') {
        const entries = await c.xrange(key, '-', '+');
        const groups = (await c.xinfo('GROUPS', key)) as unknown[][];
        const named = await Promise.all(
          groups.map(async (g) => {
            const o = Object.fromEntries(
              Array.from({ length: g.length / 2 }, (_, i) => [g[2 * i], g[2 * i + 1]]),
            );
            const pending = (await c.xpending(key, String(o.name), '-', '+', 1000)) as Array<
              [string, string]
            >;
            return {
              name: o.name,
              lastId: o['last-delivered-id'],
              pending: pending.map(([id, consumer]) => [id, consumer]),
            };
          }),
        );
        value = { entries: entries.map(([id, fields]) => [id, fields]), groups: named };
      }
      out.push({ db, key, type, expireAt, value });
    }
  }
  await c.select(0);
  return out;
}

const FIXTURES: Array<{ name: string; build: string; idmp: boolean }> = [
  { name: 'redis86-real', build: '8.6', idmp: true },
  { name: 'valkey91-real', build: 'valkey-9.1', idmp: false },
];

const dir = process.argv[2];
if (!dir) {
  process.stderr.write('usage: real-fixtures-cli <folder>\n');
  process.exit(2);
}
for (const f of FIXTURES) {
  const build = resolveRedisBuild(f.build);
  const server = await startRedis({ version: f.build, label: f.name });
  try {
    const c = server.client();
    await writeCatalog(c, f.idmp);
    const catalog = await readCatalog(c, [0, 3]);
    await c.save();
    c.disconnect();
    copyFileSync(server.rdbPath, join(dir, `${f.name}.rdb`));
    writeFileSync(
      join(dir, `${f.name}.json`),
      `${JSON.stringify({ server: build.version, written: 'by the server itself (SAVE)', keys: catalog }, null, 1)}\n`,
    );
    process.stdout.write(`${f.name}: ${build.version}, ${catalog.length} keys\n`);
  } finally {
    await server.stop();
  }
}
