import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { populate, type RedisServer, startRedis } from '@ferry/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const bin = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'ferry.js');

async function ferry(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [bin, ...args], { maxBuffer: 256 << 20 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

type Line = {
  db: number;
  key: string | { base64: string };
  type: string;
  encoding: string;
  expireAt: number | null;
  value: unknown;
};

describe('ferry rdb', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedis({ label: 'cli-rdb' });
    await populate(server.client(), { dbs: [0, 3], randomKeys: 500, expireBaseMs: Date.now() + 86_400_000 });
    await server.client().save();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('prints every key as a JSON line that matches the server', async () => {
    const r = await ferry('rdb', server.rdbPath);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Line);
    const db0 = server.client();
    const db3 = server.client({ db: 3 });
    expect(lines.filter((l) => l.db === 0)).toHaveLength(await db0.dbsize());
    expect(lines.filter((l) => l.db === 3)).toHaveLength(await db3.dbsize());
    const byKey = (db: number, key: string): Line | undefined =>
      lines.find((l) => l.db === db && l.key === key);
    expect(byKey(0, 'string:embstr')?.value).toBe('hello db0');
    expect(byKey(3, 'string:embstr')?.value).toBe('hello db3');
    expect(byKey(0, 'string:embstr')?.expireAt).toBe(Number(await db0.call('PEXPIRETIME', 'string:embstr')));
    expect(byKey(0, 'list:large')?.value).toEqual(await db0.lrange('list:large', 0, -1));
    const zset = byKey(0, 'zset:small')?.value as Array<[string, number | string]>;
    expect(zset).toContainEqual(['pos-inf', 'inf']);
    expect(zset).toContainEqual(['neg-inf', '-inf']);
    const binary = lines.find((l) => typeof l.key === 'object' && l.type === 'string');
    expect(binary?.key).toEqual({
      base64: Buffer.from([0x62, 0x69, 0x6e, 0x3a, 0, 1, 13, 10, 0xff, 0xfe, 0x7f, 0x20]).toString('base64'),
    });
    const stream = byKey(0, 'stream:groups')?.value as {
      length: number;
      groups: Array<{ name: string; pending: unknown[] }>;
    };
    expect(stream.length).toBe(await db0.xlen('stream:groups'));
    expect(stream.groups.map((g) => g.name)).toEqual(['g1', 'g2', 'g3']);
    expect(stream.groups[0]?.pending).toHaveLength(68);
  });

  it('summarises keys per db and type and lists the biggest keys', async () => {
    const r = await ferry('rdb', '--summary', '--json', '--top', '3', server.rdbPath);
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout) as {
      rdbVersion: number;
      checksum: string;
      keys: number;
      dbs: Record<string, { keys: number }>;
      biggestByElements: Array<{ key: string; elements: number }>;
      biggestByBytes: Array<{ key: string }>;
    };
    expect(s.rdbVersion).toBe(10);
    expect(s.checksum).toBe('ok');
    expect(s.dbs['0']?.keys).toBe(await server.client().dbsize());
    expect(s.dbs['3']?.keys).toBe(await server.client({ db: 3 }).dbsize());
    expect(s.biggestByElements).toHaveLength(3);
    expect(s.biggestByElements[0]).toMatchObject({ key: 'list:large', elements: 2000 });
    expect(s.biggestByBytes[0]?.key).toBe('string:large');
    const text = await ferry('rdb', '--summary', server.rdbPath);
    expect(text.stdout).toContain('RDB version 10');
    expect(text.stdout).toContain('biggest keys by elements:');
  });

  it('fails with one clear line on a missing, a corrupt or a non-RDB file', async () => {
    const missing = await ferry('rdb', '/nonexistent/dump.rdb');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/cannot read \/nonexistent\/dump.rdb: ENOENT/);
    const bogus = join(server.dir, 'not-an-rdb');
    writeFileSync(bogus, 'hello world, not an rdb');
    const notRdb = await ferry('rdb', bogus);
    expect(notRdb.code).toBe(1);
    expect(notRdb.stderr).toContain('RDB_CORRUPT: RDB corrupt at byte 0: not an RDB file');
    const usage = await ferry('rdb');
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('Usage: ferry rdb <file>');
  });
});

describe('ferry rdb on a Valkey 9 file', () => {
  // a real file written by Valkey 9.0.1 (magic VALKEY080): type 22 there is Valkey's hash with field
  // TTLs (after "REDIS", 22 is another type), each field's expiry an 8-byte ms time, -1 for none
  const file = join(
    process.env.FERRY_SHARED_DIR ?? join(dirname(fileURLToPath(import.meta.url)), '../../../../shared'),
    'fixtures/rdb/HDT3213__rdb/cases_valkey_hash2_with_hfe.rdb',
  );

  it('lists the key with its fields and their TTLs, and names the writer', async () => {
    const out = await ferry('rdb', file, '--json');
    expect(out.code).toBe(0);
    expect(
      out.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Line),
    ).toEqual([
      {
        db: 0,
        key: 'hash2-hfe',
        type: 'hash',
        encoding: 'hashtable',
        expireAt: null,
        value: [
          ['F1', 'V1', 2715785640000],
          ['F2', 'V2', 2400425640000],
          ['F3', 'V3'],
        ],
      },
    ]);
    const summary = await ferry('rdb', file, '--summary');
    expect(summary.stdout).toMatch(/RDB version 80 \(written by Valkey 9\.0\.1\), checksum ok/);
  });
});

describe('ferry rdb on a module value', () => {
  it('names it by its module type, as TYPE does on a server', async () => {
    const file = join(
      process.env.FERRY_SHARED_DIR ?? join(dirname(fileURLToPath(import.meta.url)), '../../../../shared'),
      'fixtures/rdb/sripathikrishnan__redis-rdb-tools/tests_dumps_redis_40_with_module.rdb',
    );
    const out = await ferry('rdb', file, '--json');
    expect(out.code).toBe(0);
    const lines = out.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Line);
    expect(lines.find((l) => l.key === 'foo')).toMatchObject({
      type: 'ReJSON-RL',
      encoding: 'module',
      value: { module: 'ReJSON-RL', encver: 0 },
    });
  });
});

describe('ferry rdb on a Redis 8.6 file (RDB 13)', () => {
  // fixtures/redis86-idmp-keymeta.rdb: the file plugins/source-file/test/redis86.test.ts builds from
  // Redis 8.6's rdb.h / rdb.c / keymeta.c (a string with a key-metadata class, a type-26 stream
  // with its idempotent-producer state), kept as it came out
  const file = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'redis86-idmp-keymeta.rdb');

  it("lists the stream's IDMP state and the key's metadata classes", async () => {
    const out = await ferry('rdb', file, '--json');
    expect(out.code).toBe(0);
    const [tagged, events] = out.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Line & { keyMeta?: string[] });
    expect(tagged).toMatchObject({ key: 'tagged', type: 'string', keyMeta: ['META-KMT1'], value: 'v' });
    expect(events).toMatchObject({
      key: 'events',
      type: 'stream',
      value: {
        entries: [
          { id: '1-1', fields: ['kind', 'login'] },
          { id: '2-1', fields: ['kind', 'logout', 'user', '42'] },
        ],
        groups: [{ name: 'workers', lastId: '1-1', consumers: [{ name: 'w1', pending: ['1-1'] }] }],
        idmp: {
          duration: 100,
          maxEntries: 1000,
          producers: [
            {
              pid: 'producer-a',
              ids: [
                { iid: 'req-1', id: '1-1' },
                { iid: 'req-2', id: '2-1' },
              ],
            },
          ],
          iidsAdded: 3,
          iidsDuplicates: 1,
        },
      },
    });
  });
});

describe('ferry rdb on Redis 8.8 files (RDB 14)', () => {
  // fixtures/redis88-*.rdb: the files plugins/source-file/test/redis88.test.ts builds from
  // redis/librdb's RDB 14 parser with the contents of its test dumps stream_v14_xnack and
  // array_v14_mixed_types, kept as they came out
  const fixture = (name: string) => join(dirname(fileURLToPath(import.meta.url)), 'fixtures', name);
  const lines = async (name: string) => {
    const out = await ferry('rdb', fixture(name), '--json');
    expect(out.code, out.stderr).toBe(0);
    return out.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Line);
  };

  it("lists a group's NACKed ids beside its PEL and consumers", async () => {
    const [, stream] = await lines('redis88-xnack.rdb');
    expect(stream).toMatchObject({
      key: 'mystream',
      type: 'stream',
      value: {
        entries: [
          { id: '1779170191996-0', fields: ['field1', 'value1'] },
          { id: '1779170191998-0', fields: ['field2', 'value2'] },
          { id: '1779170192000-0', fields: ['field3', 'value3'] },
          { id: '1779170192001-0', fields: ['field4', 'value4'] },
        ],
        groups: [
          {
            name: 'mygroup',
            lastId: '1779170192001-0',
            entriesRead: 4,
            pending: [
              { id: '1779170191996-0', deliveryTime: 1779170192004, deliveryCount: 1 },
              { id: '1779170191998-0', deliveryTime: 0, deliveryCount: 1 },
              { id: '1779170192000-0', deliveryTime: 0, deliveryCount: 1 },
              { id: '1779170192001-0', deliveryTime: 1779170192004, deliveryCount: 1 },
            ],
            consumers: [{ name: 'consumer1', pending: ['1779170191996-0', '1779170192001-0'] }],
            nacked: ['1779170191998-0', '1779170192000-0'],
          },
        ],
      },
    });
  });

  it('lists ARRAY elements by index (as text: up to 2^64 - 2) with the insert index', async () => {
    const [, arr, far] = await lines('redis88-array.rdb');
    expect(arr).toMatchObject({
      key: 'arr',
      type: 'array',
      value: {
        elements: [
          ['0', 'this_is_a_long_sds_string_value_long_enough'],
          ['1', '42'],
          ['2', '1.5'],
          ['3', 'abc'],
        ],
      },
    });
    expect(far).toMatchObject({
      key: 'far',
      type: 'array',
      value: {
        insertIndex: '49',
        elements: [
          ['7', '-5'],
          ['18446744073709551614', 'end'],
        ],
      },
    });
  });
});

describe('ferry rdb on a Redis 8.10 file (RDB 15)', () => {
  // fixtures/redis810-templates.rdb: the file plugins/source-file/test/redis810.test.ts builds from
  // redis/librdb's RDB 15 parser (a template registered with opcode 242, then hashes in each of the
  // four template encodings), kept as it came out
  const file = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'redis810-templates.rdb');

  it('lists template-encoded hashes as the hashes they are, by their encoding', async () => {
    const out = await ferry('rdb', file, '--json');
    expect(out.code, out.stderr).toBe(0);
    const lines = out.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Line);
    expect(lines.map((l) => [l.key, l.type, l.encoding, l.value])).toEqual([
      [
        'user:1',
        'hash',
        'hashtable',
        [
          ['age', '42'],
          ['name', 'ann'],
          ['email', 'ann@x.io'],
        ],
      ],
      [
        'user:2',
        'hash',
        'listpack',
        [
          ['age', '37'],
          ['name', 'bob'],
          ['email', 'bob@x.io'],
        ],
      ],
      [
        'pair',
        'hash',
        'hashtable',
        [
          ['a', '1'],
          ['b', '2'],
        ],
      ],
      [
        'pair2',
        'hash',
        'listpack',
        [
          ['x', 'one'],
          ['yy', 'two'],
        ],
      ],
    ]);
  });
});
