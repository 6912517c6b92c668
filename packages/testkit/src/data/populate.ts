import type { Redis } from 'ioredis';
import { compareVersions } from '../binaries.js';
import { TestkitError } from '../errors.js';
import { type AnyClient, type Arg, CommandSink, isCluster } from '../internal/sink.js';
import { Random } from './random.js';

export type BigKeyType = 'list' | 'set' | 'zset' | 'hash';

export interface PopulateSpec {
  /** Databases to fill (standalone only; a cluster has db 0). Default [0]. */
  dbs?: number[];
  /** Prefix of every key written. Default "". */
  prefix?: string;
  /** The catalogue: every type in every encoding this server has, binary and long keys. Default true. */
  catalogue?: boolean;
  /** Additional keys of mixed types (70% strings, 10% hashes, 10% lists, 5% sets, 5% zsets). Default 0. */
  randomKeys?: number;
  /** Fraction of keys given a TTL (catalogue: a fixed subset; random keys: by chance). Default 0.2. */
  ttlFraction?: number;
  /**
   * TTLs are absolute (`PEXPIREAT`) from this instant + 1 h … 1 day, so two servers populated apart in
   * time hold the same expiry. Default: the start of the current UTC day + 2 days.
   */
  expireBaseMs?: number;
  /** Length of the long key name. Default 20 480 (20 KB); 0 leaves it out. */
  longKeyBytes?: number;
  /** Big keys: one key per type with this many elements each (≥ 1 M for the real thing). Default none. */
  bigKeys?: { elements: number; types?: BigKeyType[] };
  /**
   * Try a list with PLAIN quicklist nodes (7.0+, needs DEBUG QUICKLIST-PACKED-THRESHOLD; enabled on
   * testkit servers). Default true; reported in `skipped` when the server refuses.
   */
  plainListNodes?: boolean;
  /** Seed for values: the same spec and seed write the same data. Default 1. */
  seed?: number;
  /**
   * Write the values `populate` writes for this db instead of the db written to: how a test builds
   * the expected target of a db mapping (source db 2 → cluster db 0 under prefix "db2:").
   */
  valuesOf?: number;
  /** The server's version when INFO cannot be asked (through twemproxy). Default: from INFO server. */
  serverVersion?: string;
}

/** What a catalogue key is meant to exercise ("list:quicklist-multi-node"), with its type. */
export interface CatalogueEntry {
  db: number;
  key: Buffer;
  type: 'string' | 'list' | 'set' | 'zset' | 'hash' | 'stream';
  intent: string;
  ttl: boolean;
}

export interface PopulateResult {
  keys: number;
  byType: Record<string, number>;
  byDb: Record<number, number>;
  withTtl: number;
  catalogue: CatalogueEntry[];
  /** Parts of the catalogue this server could not hold (with the reason). */
  skipped: string[];
  version: string;
}

const DAY = 86_400_000;

async function serverVersion(client: AnyClient): Promise<string> {
  const text = await client.info('server');
  const v = /redis_version:(\S+)/.exec(text)?.[1];
  if (!v) throw new TestkitError('TESTKIT_INVALID_ARGUMENT', 'cannot read redis_version from INFO server');
  return v;
}

/** Runs the catalogue's "db" connection: a duplicate selected on `db` for standalone, the client itself for a cluster. */
async function forDb<T>(client: AnyClient, db: number, fn: (c: AnyClient) => Promise<T>): Promise<T> {
  if (isCluster(client) || db === 0) return fn(client);
  const dup = (client as Redis).duplicate({ db });
  dup.on('error', () => {});
  try {
    return await fn(dup);
  } finally {
    dup.disconnect();
  }
}

/**
 * Writes every Redis type in every encoding (per database), TTLs, binary and long key names, optional
 * big keys and random bulk keys. Deterministic for a given spec. Cluster clients are supported (db 0).
 */
export async function populate(client: AnyClient, spec: PopulateSpec = {}): Promise<PopulateResult> {
  const dbs = spec.dbs ?? [0];
  if (isCluster(client) && dbs.some((d) => d !== 0)) {
    throw new TestkitError('TESTKIT_INVALID_ARGUMENT', `a cluster has only db 0; asked for dbs ${dbs.join(', ')}`);
  }
  const version = spec.serverVersion ?? (await serverVersion(client));
  const at = (v: string): boolean => compareVersions(version, v) >= 0;
  const result: PopulateResult = {
    keys: 0,
    byType: {},
    byDb: {},
    withTtl: 0,
    catalogue: [],
    skipped: [],
    version,
  };
  const expireBase = spec.expireBaseMs ?? Math.floor(Date.now() / DAY) * DAY + 2 * DAY;
  const ttlFraction = spec.ttlFraction ?? 0.2;
  const prefix = spec.prefix ?? '';

  for (const db of dbs) {
    const contentDb = spec.valuesOf ?? db;
    const rnd = new Random((spec.seed ?? 1) * 1_000_003 + contentDb);
    const expireAt = (): number => expireBase + rnd.int(3_600_000, DAY);
    const count = (type: string, ttl: boolean): void => {
      result.keys++;
      result.byType[type] = (result.byType[type] ?? 0) + 1;
      result.byDb[db] = (result.byDb[db] ?? 0) + 1;
      if (ttl) result.withTtl++;
    };

    await forDb(client, db, async (c) => {
      const sink = new CommandSink(c);
      const key = (name: string | Buffer): Buffer =>
        Buffer.isBuffer(name) ? Buffer.concat([Buffer.from(prefix), name]) : Buffer.from(prefix + name);
      const add = async (
        type: CatalogueEntry['type'],
        intent: string,
        name: string | Buffer,
        write: (k: Buffer) => Promise<void>,
        ttl = false,
      ): Promise<void> => {
        const k = key(name);
        await write(k);
        if (ttl) await sink.send('PEXPIREAT', k, expireAt());
        result.catalogue.push({ db, key: k, type, intent, ttl });
        count(type, ttl);
      };
      const many = async (cmd: string, k: Buffer, items: Arg[], per = 1000): Promise<void> => {
        for (let i = 0; i < items.length; i += per) await sink.send(cmd, k, ...items.slice(i, i + per));
      };
      const tag = `db${contentDb}`;

      if (spec.catalogue !== false) {
        // strings: int, embstr (≤ 44 bytes), raw, large incompressible, LZF-compressible, binary, empty
        await add('string', 'string:int', 'string:int', (k) => sink.send('SET', k, String(10_000 + contentDb)));
        await add('string', 'string:int-min', 'string:int-min', (k) => sink.send('SET', k, '-9223372036854775808'));
        await add('string', 'string:embstr', 'string:embstr', (k) => sink.send('SET', k, `hello ${tag}`), true);
        await add('string', 'string:raw', 'string:raw', (k) => sink.send('SET', k, `${tag}:${rnd.text(120)}`));
        await add('string', 'string:large', 'string:large', (k) => sink.send('SET', k, rnd.bytes(1 << 20)));
        await add('string', 'string:compressible', 'string:compressible', (k) =>
          sink.send('SET', k, `${'a'.repeat(10_000)}${tag}`),
        );
        await add('string', 'string:binary', 'string:binary', (k) =>
          sink.send('SET', k, Buffer.concat([Buffer.from([0, 13, 10, 255, 254, 0]), rnd.bytes(30)])),
        );
        await add('string', 'string:empty', 'string:empty', (k) => sink.send('SET', k, ''));
        await add('string', 'string:float', 'string:float', (k) => sink.send('SET', k, '3.14159265358979'), true);

        // lists: small (one listpack/ziplist node), multi-node quicklist, every integer width, a big element
        await add('list', 'list:small', 'list:small', (k) => sink.send('RPUSH', k, 'a', tag, '1', '-2', 'x'.repeat(30)), true);
        await add('list', 'list:large', 'list:large', (k) =>
          many('RPUSH', k, Array.from({ length: 2000 }, (_, i) => `${tag}:${i}:${rnd.text(50)}`)),
        );
        const ints = [0, 7, -7, 127, -128, 4095, -4096, 32767, -32768, 8388607, -8388608, 2147483647, -2147483648];
        ints.push(9007199254740991, -9007199254740991);
        await add('list', 'list:ints', 'list:ints', (k) =>
          sink.send('RPUSH', k, ...ints.map(String), '9223372036854775807', '-9223372036854775808', '12345678901234567890'),
        );
        await add('list', 'list:big-element', 'list:big-element', (k) =>
          sink.send('RPUSH', k, 'head', rnd.bytes(20_000), 'tail'),
        );

        // sets: intset (16/32/64-bit members), small (listpack on 7.2+), large hashtable, intset overflowing to hashtable
        await add('set', 'set:intset', 'set:intset', (k) =>
          sink.send('SADD', k, '1', '-1', '300', '70000', '-2147483649', '9223372036854775807', String(contentDb)),
        );
        await add('set', 'set:small', 'set:small', (k) => sink.send('SADD', k, 'alpha', 'beta', tag, 'δέλτα'), true);
        await add('set', 'set:large', 'set:large', (k) =>
          many('SADD', k, Array.from({ length: 1000 }, (_, i) => `${tag}:m${i}`)),
        );
        await add('set', 'set:intset-overflow', 'set:intset-overflow', (k) =>
          many('SADD', k, Array.from({ length: 600 }, (_, i) => String(i * 3 - 900))),
        );

        // zsets: small (listpack/ziplist) with ±inf and awkward doubles, large skiplist, long member
        await add('zset', 'zset:small', 'zset:small', (k) =>
          sink.send('ZADD', k, '-inf', 'neg-inf', '+inf', 'pos-inf', '0', 'zero', '-1.5', 'neg', '3.141592653589793', 'pi', '1e300', 'huge', '5e-324', 'tiny', String(contentDb), tag),
          true,
        );
        await add('zset', 'zset:large', 'zset:large', (k) =>
          many('ZADD', k, Array.from({ length: 500 }, (_, i) => [String(i * 1.25 - 100), `${tag}:m${i}`]).flat()),
        );
        await add('zset', 'zset:long-member', 'zset:long-member', (k) =>
          sink.send('ZADD', k, '1', 'short', '2', `${tag}:${'m'.repeat(100)}`),
        );

        // hashes: small (listpack/ziplist), large hashtable, a long value forcing hashtable, integer values
        await add('hash', 'hash:small', 'hash:small', (k) => sink.send('HSET', k, 'name', tag, 'count', '42', 'empty', ''), true);
        await add('hash', 'hash:large', 'hash:large', (k) =>
          many('HSET', k, Array.from({ length: 1000 }, (_, i) => [`f${i}`, `${tag}:${rnd.text(20)}`]).flat()),
        );
        await add('hash', 'hash:long-value', 'hash:long-value', (k) =>
          sink.send('HSET', k, 'a', '1', 'long', rnd.text(100)),
        );
        await add('hash', 'hash:ints', 'hash:ints', (k) =>
          sink.send('HSET', k, 'i8', '100', 'i16', '30000', 'i32', '2000000000', 'i64', '9000000000000000000', 'neg', '-5'),
        );

        // streams (5.0+): several listpack nodes, deletions, groups with PEL and consumers, an empty stream with a group
        if (at('5.0.0')) {
          await add('stream', 'stream:groups', 'stream:groups', async (k) => {
            for (let i = 1; i <= 300; i++) {
              const fields = i % 7 === 0 ? ['other', `${i}`, 'extra', rnd.text(8)] : ['n', `${i}`, 'db', tag];
              await sink.send('XADD', k, `${1_700_000_000_000 + i}-${i % 3}`, ...fields);
            }
            await sink.send('XDEL', k, `${1_700_000_000_005}-2`, `${1_700_000_000_010}-1`);
            await sink.sendOrdered('XGROUP', 'CREATE', k, 'g1', '0');
            await sink.sendOrdered('XGROUP', 'CREATE', k, 'g2', '$');
            await sink.sendOrdered('XGROUP', 'CREATE', k, 'g3', '0');
            await sink.sendOrdered('XREADGROUP', 'GROUP', 'g1', 'c1', 'COUNT', '50', 'STREAMS', k, '>');
            await sink.sendOrdered('XREADGROUP', 'GROUP', 'g1', 'c2', 'COUNT', '20', 'STREAMS', k, '>');
            await sink.sendOrdered('XACK', k, 'g1', `${1_700_000_000_001}-1`, `${1_700_000_000_002}-2`);
            await sink.sendOrdered('XREADGROUP', 'GROUP', 'g3', 'c1', 'COUNT', '5', 'STREAMS', k, '>');
            await sink.sendOrdered('XCLAIM', k, 'g3', 'c3', '0', `${1_700_000_000_003}-0`);
          });
          await add('stream', 'stream:empty-with-group', 'stream:empty-with-group', async (k) => {
            await sink.sendOrdered('XGROUP', 'CREATE', k, 'g', '$', 'MKSTREAM');
          });
          await add('stream', 'stream:trimmed', 'stream:trimmed', async (k) => {
            for (let i = 1; i <= 50; i++) {
              await sink.send('XADD', k, 'MAXLEN', '10', `${1_700_000_100_000 + i}-0`, 'i', String(i));
            }
          }, true);
        } else {
          result.skipped.push(`streams: Redis ${version} has none`);
        }

        // key names: binary bytes (NUL, CR, LF, 0xff), UTF-8, spaces and newlines, 20 KB
        await add('string', 'key:binary', Buffer.from([0x62, 0x69, 0x6e, 0x3a, 0, 1, 13, 10, 0xff, 0xfe, 0x7f, 0x20]), (k) =>
          sink.send('SET', k, tag),
          true,
        );
        await add('hash', 'key:utf8', 'ключ-🔑-鍵', (k) => sink.send('HSET', k, 'поле', 'значение', '🔑', tag));
        await add('list', 'key:crlf', 'key with spaces\r\nand CRLF', (k) => sink.send('RPUSH', k, 'a\r\nb', '\0'));
        const longBytes = spec.longKeyBytes ?? 20_480;
        if (longBytes > 0) {
          await add('string', 'key:long', `long:${'k'.repeat(Math.max(0, longBytes - prefix.length - 5))}`, (k) =>
            sink.send('SET', k, tag),
          );
        }
      }

      // bulk random keys, the shape of the benchmarks' "mixed" dataset
      const n = spec.randomKeys ?? 0;
      for (let i = 0; i < n; i++) {
        const k = key(`rand:${i}`);
        const type = rnd.weighted({ string: 70, hash: 10, list: 10, set: 5, zset: 5 });
        if (type === 'string') await sink.send('SET', k, rnd.text(rnd.int(20, 200)));
        else if (type === 'hash') {
          const fields = rnd.int(5, 20);
          await sink.send('HSET', k, ...Array.from({ length: fields }, (_, f) => [`f${f}`, rnd.text(rnd.int(5, 40))]).flat());
        } else if (type === 'list') {
          await sink.send('RPUSH', k, ...Array.from({ length: rnd.int(5, 20) }, () => rnd.text(rnd.int(5, 40))));
        } else if (type === 'set') {
          await sink.send('SADD', k, ...Array.from({ length: rnd.int(5, 20) }, (_, m) => `m${m}:${rnd.text(8)}`));
        } else {
          await sink.send(
            'ZADD',
            k,
            ...Array.from({ length: rnd.int(5, 20) }, (_, m) => [String(rnd.int(-1000, 1000) / 4), `m${m}`]).flat(),
          );
        }
        const ttl = rnd.next() < ttlFraction;
        if (ttl) await sink.send('PEXPIREAT', k, expireAt());
        count(type, ttl);
      }

      // big keys: written in chunks so neither side holds them whole
      for (const type of spec.bigKeys?.types ?? (spec.bigKeys ? ['hash', 'list', 'set', 'zset'] : [])) {
        const elements = spec.bigKeys?.elements ?? 0;
        const k = key(`big:${type}`);
        const chunk = 1000;
        for (let start = 0; start < elements; start += chunk) {
          const end = Math.min(elements, start + chunk);
          const items: Arg[] = [];
          for (let i = start; i < end; i++) {
            if (type === 'hash') items.push(`f${i}`, `v${i}`);
            else if (type === 'zset') items.push(String(i), `m${i}`);
            else items.push(`${type === 'list' ? 'e' : 'm'}${i}`);
          }
          const cmd = { hash: 'HSET', list: 'RPUSH', set: 'SADD', zset: 'ZADD' }[type];
          await sink.send(cmd, k, ...items);
        }
        result.catalogue.push({ db, key: k, type, intent: `big:${type}`, ttl: false });
        count(type, false);
      }
      await sink.flush();

      if (spec.catalogue !== false && spec.plainListNodes !== false) {
        await writePlainList(c, key('list:plain-nodes'), tag, at('7.0.0')).then(
          (ok) => {
            if (ok === true) {
              result.catalogue.push({ db, key: key('list:plain-nodes'), type: 'list', intent: 'list:plain-nodes', ttl: false });
              count('list', false);
            } else result.skipped.push(`list:plain-nodes: ${ok}`);
          },
        );
      }
    });
  }
  return result;
}

/** A quicklist with PLAIN nodes: lower the packed threshold (DEBUG), push big elements, restore it. */
async function writePlainList(client: AnyClient, key: Buffer, tag: string, supported: boolean): Promise<true | string> {
  if (!supported) return 'PLAIN quicklist nodes exist from Redis 7.0';
  const nodes = isCluster(client) ? client.nodes('master') : [client];
  try {
    for (const n of nodes) await n.call('DEBUG', 'QUICKLIST-PACKED-THRESHOLD', '1K');
  } catch (err) {
    return `DEBUG QUICKLIST-PACKED-THRESHOLD refused (${(err as Error).message})`;
  }
  try {
    await client.call('RPUSH', key, 'small-1', `${tag}:${'P'.repeat(4096)}`, 'small-2', `${tag}:${'Q'.repeat(2048)}`);
  } finally {
    for (const n of nodes) await n.call('DEBUG', 'QUICKLIST-PACKED-THRESHOLD', '1G');
  }
  return true;
}
