/**
 * Redis 8.6's format (RDB 13), built byte for byte from its definitions, since no 8.6 server runs on
 * this machine: redis/redis src/rdb.h (RDB_VERSION 13, RDB_TYPE_STREAM_LISTPACKS_4 = 26,
 * RDB_OPCODE_KEY_META = 243), rdb.c (rdbSaveObject: a type-26 stream is the type-21 layout followed by
 * its IDMP state — duration, max entries, producers with their idempotency ids, the all-time counts;
 * rdbLoadObject reads exactly that for rdbtype >= 26) and keymeta.c (rdbSaveKeyMetadata: the class
 * count, then per class a 32-bit spec and the module's annotated value up to its EOF opcode). The
 * stream's own bytes are what a real Redis 7.0 DUMPs (type 21), so only the 8.6 additions are built
 * here. The file is then read by `ferry rdb` and migrated into Debian's 7.0 by the rewrite path.
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

/** keymeta.c's class spec: 4 characters of 6 bits, 5-bit version, 3-bit flags. */
function classSpec(name: string, version: number, flags: number): Buffer {
  const set = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-';
  let n = 0;
  for (const c of name) n = n * 64 + set.indexOf(c);
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n * 256 + version * 8 + flags);
  return b;
}

describe("Redis 8.6's RDB 13, built from its definitions", () => {
  let source: RedisServer;
  let target: RedisServer;
  let file: string;
  let lastId: string;
  beforeAll(async () => {
    source = await servers.redis({ label: 'dump' });
    target = await servers.redis({ label: 'target' });
    await source.command('XADD', 'events', '1-1', 'kind', 'login');
    await source.command('XADD', 'events', '2-1', 'kind', 'logout', 'user', '42');
    await source.command('XGROUP', 'CREATE', 'events', 'workers', '0');
    await source.command('XREADGROUP', 'GROUP', 'workers', 'w1', 'COUNT', '1', 'STREAMS', 'events', '>');
    lastId = '2-1';
    const dump = (await source.client().callBuffer('DUMP', 'events')) as Buffer;
    expect(dump[0]).toBe(19); // RDB_TYPE_STREAM_LISTPACKS_2, as Redis 7.0 writes a stream
    const stream19 = dump.subarray(1, dump.length - 10); // without the type, the version and the CRC
    // type 21 (7.2) adds each consumer's active time after its seen time; the value ends with the one
    // consumer's seen time (8 bytes), its PEL count (1 byte) and its one pending id (16 bytes)
    const at = stream19.length - 17;
    const seen = stream19.subarray(at - 8, at);
    const stream21 = Buffer.concat([stream19.subarray(0, at), seen, stream19.subarray(at)]);
    const idmp = Buffer.concat([
      len(100), // idmp_duration (s)
      len(1000), // idmp_max_entries
      len(1), // producers
      str('producer-a'),
      len(2),
      str('req-1'),
      len(1),
      len(1),
      str('req-2'),
      len(2),
      len(1),
      len(3), // iids_added
      len(1), // iids_duplicates
    ]);
    file = rdbFile(mkdtempSync(join(tmpdir(), 'ferry-rdb13-')), 'redis86.rdb', 13, '8.6.0', [
      // a string with one key-metadata class "KMT1" (version 1) whose module saved one unsigned value
      Buffer.from([243]),
      len(1),
      classSpec('KMT1', 1, 0),
      len(2), // RDB_MODULE_OPCODE_UINT
      len(42),
      len(0), // RDB_MODULE_OPCODE_EOF
      Buffer.from([0]),
      str('tagged'),
      str('v'),
      Buffer.from([26]),
      str('events'),
      stream21,
      idmp,
    ]);
  });

  it('reads the stream with its IDMP state and the key metadata classes', async () => {
    const parser = rdbFileParser(file);
    const seen: Array<{ key: string; type: string; meta?: string[]; chunks: ValueChunk[] }> = [];
    for await (const e of (parser as RdbParser).entries()) {
      if (e.kind !== 'key') continue;
      const chunks: ValueChunk[] = [];
      for await (const c of e.chunks()) chunks.push(c);
      seen.push({ key: String(e.key), type: e.type, ...(e.keyMeta ? { meta: e.keyMeta } : {}), chunks });
    }
    expect((parser as RdbParser).version).toBe(13);
    expect(seen.map((k) => [k.key, k.type, k.meta])).toEqual([
      ['tagged', 'string', ['META-KMT1']],
      ['events', 'stream', undefined],
    ]);
    const idmp = seen[1]?.chunks.find((c) => c.type === 'stream-idmp');
    expect(
      JSON.parse(
        JSON.stringify(idmp, (_k, v) => (v?.type === 'Buffer' ? Buffer.from(v.data).toString() : v)),
      ),
    ).toEqual({
      type: 'stream-idmp',
      durationS: 100,
      maxEntries: 1000,
      producers: [
        {
          pid: 'producer-a',
          entries: [
            { iid: 'req-1', id: '1-1' },
            { iid: 'req-2', id: '2-1' },
          ],
        },
      ],
      iidsAdded: 3,
      iidsDuplicates: 1,
    });
  });

  it('migrates it into Redis 7.0 by the rewrite path, saying what the target cannot hold', async () => {
    const task = engine().createTask({
      id: `r86${Date.now()}`,
      source: { topology: 'file', options: { files: [file] } },
      target: { endpoint: { host: target.host, port: target.port } },
    });
    const warnings: string[] = [];
    task.events.on('task:warning', (w) => warnings.push(w.message));
    await task.start();
    expect(task.state).toBe('succeeded');
    expect(task.doneCheck?.ok, task.doneCheck?.problem).toBe(true);
    expect(await target.command('GET', 'tagged')).toBe('v');
    // the stream as the real server holds it: entries, group, its pending entry and consumer
    expect(await target.command('XRANGE', 'events', '-', '+')).toEqual(
      await source.command('XRANGE', 'events', '-', '+'),
    );
    const groups = (await target.command('XINFO', 'GROUPS', 'events')) as unknown[][];
    expect(groups[0]).toEqual(expect.arrayContaining(['workers', 'pending', 1, 'last-delivered-id', '1-1']));
    const info = (await target.command('XINFO', 'STREAM', 'events')) as unknown[];
    expect(info[info.indexOf('last-generated-id') + 1]).toBe(lastId);
    const said = warnings.join('\n');
    expect(said).toMatch(/idempotent-producer \(IDMP\) state cannot be rewritten/);
    expect(said).toMatch(/module key metadata \(META-KMT1\) is not carried/);
  });
});
