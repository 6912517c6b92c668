/**
 * Redis 8.8's format (RDB 14), built byte for byte from its definitions, since no 8.8 server runs on
 * this machine. The definitions: redis/librdb's parser, which reads RDB 14 (src/lib/parser.c:
 * elementStreamLP's ST_LOAD_NACK_ZONE_* states — a type-27 stream is the type-26 layout with, after
 * each group's consumers, its NACK zone: a count and each id as 16 bytes; elementArray — a type-28
 * ARRAY is its element count (never 0), an insert-index flag and the index when the flag is 1, then
 * each element's index, tag and payload: 8 bytes little-endian for AR_RDB_TAG_INT (1) and
 * AR_RDB_TAG_FLOAT (2), an RDB string for AR_RDB_TAG_SDS (0) and AR_RDB_TAG_SMALLSTR (3)); its
 * test dumps' expected contents (test/dumps/stream_v14_xnack.json: four entries, group "mygroup"
 * whose PEL holds all four, consumer1 owning the first and last, the middle two NACKed;
 * array_v14_mixed_types.json: one element of each tag) are what is built here and checked for.
 * The stream's entries are what a real Redis 7.0 DUMPs; the groups and the 8.6/8.8 additions are
 * built. The files are read, and migrated into Debian's 7.0 by the rewrite path.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RdbParser, rdbFileParser, type ValueChunk } from '@ferry/rdb';
import { type RedisServer, serverScope } from '@ferry/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engine } from './helpers.js';
import { len, rdbFile, str } from './rdb-bytes.js';

const servers = serverScope();
afterAll(() => servers.stop());

const u64le = (n: number | bigint): Buffer => {
  const b = Buffer.alloc(8);
  b.writeBigInt64LE(BigInt(n));
  return b;
};
const f64le = (n: number): Buffer => {
  const b = Buffer.alloc(8);
  b.writeDoubleLE(n);
  return b;
};
/** A stream id as a PEL, a consumer and the NACK zone store it: ms and seq, 8 bytes big-endian each. */
const id16 = (id: string): Buffer => {
  const [ms, seq] = id.split('-').map(BigInt) as [bigint, bigint];
  const b = Buffer.alloc(16);
  b.writeBigUInt64BE(ms);
  b.writeBigUInt64BE(seq, 8);
  return b;
};

/** A file of `REDIS0014` holding `parts` (type byte, key, value bytes) in db 0. */
const rdb14 = (dir: string, name: string, parts: Buffer[]): string => rdbFile(dir, name, 14, '8.8.0', parts);

// librdb's test/dumps/stream_v14_xnack.json
const IDS = ['1779170191996-0', '1779170191998-0', '1779170192000-0', '1779170192001-0'];
const SENT = 1779170192004;
const LONG = 'this_is_a_long_sds_string_value_long_enough';

describe("Redis 8.8's RDB 14, built from its definitions", () => {
  let target: RedisServer;
  let streamFile: string;
  let arrayFile: string;
  let entries: unknown;
  beforeAll(async () => {
    const dump = await servers.redis({ label: 'dump' });
    target = await servers.redis({ label: 'target' });
    for (const [i, id] of IDS.entries())
      await dump.command('XADD', 'mystream', id, `field${i + 1}`, `value${i + 1}`);
    entries = await dump.command('XRANGE', 'mystream', '-', '+');
    const payload = (await dump.client().callBuffer('DUMP', 'mystream')) as Buffer;
    expect(payload[0]).toBe(19); // RDB_TYPE_STREAM_LISTPACKS_2, as Redis 7.0 writes a stream
    // without the type byte, the version and CRC, and the group count (0) that ends it
    const value = payload.subarray(1, payload.length - 10);
    expect(value[value.length - 1]).toBe(0);
    const [, last] = (IDS[3] as string).split('-');
    const stream = Buffer.concat([
      Buffer.from([27]),
      str('mystream'),
      value.subarray(0, value.length - 1),
      len(1), // groups
      str('mygroup'),
      len(1779170192001n),
      len(Number(last)),
      len(4), // entries read
      len(4), // the group's PEL: every entry, the NACKed ones never sent again (time 0)
      ...IDS.flatMap((id, i) => [id16(id), u64le(i === 1 || i === 2 ? 0 : SENT), len(1)]),
      len(1), // consumers
      str('consumer1'),
      u64le(SENT), // seen
      u64le(SENT), // active (type 21+)
      len(2),
      id16(IDS[0] as string),
      id16(IDS[3] as string),
      len(2), // the NACK zone (type 27)
      id16(IDS[1] as string),
      id16(IDS[2] as string),
      // IDMP (type 26+): duration, max entries, no producers, the all-time counts
      len(100),
      len(100),
      len(0),
      len(0),
      len(0),
    ]);
    const plain = Buffer.concat([Buffer.from([0]), str('plain'), str('v')]);
    const dir = mkdtempSync(join(tmpdir(), 'ferry-rdb14-'));
    streamFile = rdb14(dir, 'stream.rdb', [plain, stream]);
    const mixed = Buffer.concat([
      Buffer.from([28]),
      str('arr'),
      len(4),
      len(0), // no insert index
      len(0),
      len(0), // AR_RDB_TAG_SDS
      str(LONG),
      len(1),
      len(1), // AR_RDB_TAG_INT
      u64le(42),
      len(2),
      len(2), // AR_RDB_TAG_FLOAT
      f64le(1.5),
      len(3),
      len(3), // AR_RDB_TAG_SMALLSTR
      str('abc'),
    ]);
    const sparse = Buffer.concat([
      Buffer.from([28]),
      str('far'),
      len(2),
      len(1),
      len(49), // insert index
      len(7),
      len(1),
      u64le(-5),
      len(18446744073709551614n), // the highest index there is
      len(0),
      str('end'),
    ]);
    arrayFile = rdb14(dir, 'array.rdb', [plain, mixed, sparse]);
  });

  async function read(file: string): Promise<Array<{ key: string; type: string; chunks: ValueChunk[] }>> {
    const parser = rdbFileParser(file) as RdbParser;
    const seen: Array<{ key: string; type: string; chunks: ValueChunk[] }> = [];
    for await (const e of parser.entries()) {
      if (e.kind !== 'key') continue;
      const chunks: ValueChunk[] = [];
      for await (const c of e.chunks()) chunks.push(c);
      seen.push({ key: String(e.key), type: e.type, chunks });
    }
    expect(parser.version).toBe(14);
    return seen;
  }

  it('reads a stream with its NACK zone: the NACKed ids pending, owned by no consumer', async () => {
    const [, stream] = await read(streamFile);
    const of = <T extends ValueChunk['type']>(t: T) =>
      stream?.chunks.filter((c): c is Extract<ValueChunk, { type: T }> => c.type === t) ?? [];
    expect(of('stream-pel')[0]?.pending.map((p) => [p.id, p.deliveryTime])).toEqual([
      [IDS[0], SENT],
      [IDS[1], 0],
      [IDS[2], 0],
      [IDS[3], SENT],
    ]);
    expect(of('stream-consumer')[0]?.pending).toEqual([IDS[0], IDS[3]]);
    expect(of('stream-nack').map((c) => [String(c.group), c.ids])).toEqual([['mygroup', [IDS[1], IDS[2]]]]);
    expect(of('stream-idmp')[0]).toMatchObject({ durationS: 100, maxEntries: 100, producers: [] });
  });

  it('reads ARRAY elements of every tag, an insert index and the highest index', async () => {
    const keys = await read(arrayFile);
    const arrays = keys.filter((k) => k.type === 'array');
    const items = (k: (typeof keys)[number] | undefined) =>
      k?.chunks.flatMap((c) => (c.type === 'array' ? c.items.map(([i, v]) => [i, String(v)]) : []));
    // as librdb's array_v14_mixed_types.json lists them
    expect(items(arrays[0])).toEqual([
      ['0', LONG],
      ['1', '42'],
      ['2', '1.5'],
      ['3', 'abc'],
    ]);
    expect(arrays[0]?.chunks[0]).not.toHaveProperty('insertIndex');
    expect(items(arrays[1])).toEqual([
      ['7', '-5'],
      ['18446744073709551614', 'end'],
    ]);
    expect(arrays[1]?.chunks[0]).toMatchObject({ insertIndex: '49', count: 2 });
  });

  it('migrates the stream into Redis 7.0, and does not call it done: the NACKed entries cannot be pending there', async () => {
    await target.command('FLUSHALL');
    const task = engine().createTask({
      id: `r88s${Date.now()}`,
      source: { topology: 'file', options: { files: [streamFile] } },
      target: { endpoint: { host: target.host, port: target.port } },
    });
    const warnings: string[] = [];
    task.events.on('task:warning', (w) => warnings.push(w.message));
    // the check at the end compares the group as the file holds it: 4 pending there, 2 here
    await expect(task.start()).rejects.toThrow(
      /is not done: .*"mystream" \(consumer groups differ \(mygroup:1779170192001-0:4 on the source, mygroup:1779170192001-0:2 on the target\)\)/,
    );
    expect(warnings.join('\n')).toMatch(
      /entries given back with XNACK \(2 in group "mygroup"\) cannot be pending without a consumer before Redis 8\.8/,
    );
    // everything else as the file holds it: entries, the group, the entries consumer1 owns
    expect(await target.command('GET', 'plain')).toBe('v');
    expect(await target.command('XRANGE', 'mystream', '-', '+')).toEqual(entries);
    const pending = (await target.command('XPENDING', 'mystream', 'mygroup', '-', '+', '10')) as unknown[][];
    expect(pending.map((p) => [p[0], p[1]])).toEqual([
      [IDS[0], 'consumer1'],
      [IDS[3], 'consumer1'],
    ]);
    const groups = (await target.command('XINFO', 'GROUPS', 'mystream')) as unknown[][];
    expect(groups[0]).toEqual(expect.arrayContaining(['mygroup', 'last-delivered-id', IDS[3]]));
  });

  it('does not write an ARRAY to Redis 7.0: names each key, and the check at the end finds them missing', async () => {
    await target.command('FLUSHALL');
    const task = engine().createTask({
      id: `r88a${Date.now()}`,
      source: { topology: 'file', options: { files: [arrayFile] } },
      target: { endpoint: { host: target.host, port: target.port } },
    });
    const warnings: string[] = [];
    task.events.on('task:warning', (w) => warnings.push(w.message));
    await expect(task.start()).rejects.toThrow(/is not done: .*the target is missing keys/);
    expect(await target.command('GET', 'plain')).toBe('v');
    expect(Number(await target.command('EXISTS', 'arr', 'far'))).toBe(0);
    const said = warnings.join('\n');
    expect(said).toMatch(/key "arr" is an ARRAY \(Redis 8\.8\): a target before Redis 8\.8 has no such type/);
    expect(said).toMatch(/key "far" is an ARRAY/);
  });
});
