import { createReadStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { populate, type RedisServer, startRedis, writeLoad } from '@ferry/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeBuffer, dumpPayload, parseDumpPayload, parseRdbFile, type ValueChunk } from '../src/index.js';
import { collect, type Parsed } from './collect.js';
import { expectKeyMatches } from './compare.js';

describe('round trip against a live server: populate → SAVE → parse', () => {
  let server: RedisServer;
  let parsed: Parsed;
  const dbs = [0, 1, 2];

  beforeAll(async () => {
    server = await startRedis({ label: 'rdb-live' });
    const c = server.client();
    await populate(c, { dbs, randomKeys: 3000, expireBaseMs: Date.now() + 86_400_000 });
    // the write mix leaves keys in shapes populate does not (short TTLs, renamed keys, trimmed streams)
    await writeLoad(c, { opsPerSec: 5000, durationMs: 1000, dbs });
    await c.call(
      'FUNCTION',
      'LOAD',
      "#!lua name=ferrylib\nredis.register_function('ferry_echo', function(keys, args) return args[1] end)",
    );
    await c.save();
    parsed = await collect(server.rdbPath, { raw: true });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('reads every key of every db, equal to what the server returns', async () => {
    expect(parsed.checksum).toBe('ok');
    for (const db of dbs) {
      const c = server.client({ db });
      const mine = parsed.keys.filter(
        (k) => k.db === db && (k.expireAtMs === undefined || k.expireAtMs > Date.now() + 1000),
      );
      expect(mine.length).toBeGreaterThan(50);
      for (const k of mine) {
        if ((await c.exists(k.key)) === 0) continue; // expired since SAVE
        await expectKeyMatches(c, k);
      }
    }
    expect(parsed.functions.map(String)).toEqual([
      "#!lua name=ferrylib\nredis.register_function('ferry_echo', function(keys, args) return args[1] end)",
    ]);
  });

  it('builds RESTORE payloads byte-identical to the server’s DUMP, for every type and encoding', async () => {
    const seen = new Set<string>();
    const clients = new Map(dbs.map((db) => [db, server.client({ db })]));
    for (const k of parsed.keys) {
      const c = clients.get(k.db);
      if (!c) throw new Error(`no client for db ${k.db}`);
      const dumped = await c.dumpBuffer(k.key);
      if (!dumped || !k.raw) continue;
      const { rdbType } = parseDumpPayload(dumped);
      expect(dumpPayload(rdbType, k.raw, 10).toString('hex'), `${k.type} ${k.key}`).toBe(
        dumped.toString('hex'),
      );
      seen.add(`${k.type}/${k.encoding}/${rdbType}`);
    }
    // strings (raw, int, LZF), quicklist 2, intset, listpack and hashtable sets, listpack and skiplist zsets,
    // listpack and hashtable hashes, streams
    expect([...seen].sort()).toEqual(
      expect.arrayContaining([
        'hash/hashtable/4',
        'hash/listpack/16',
        'list/quicklist/18',
        'set/hashtable/2',
        'set/intset/11',
        'stream/stream/19',
        'string/int/0',
        'string/lzf/0',
        'string/string/0',
        'zset/listpack/17',
        'zset/skiplist/5',
      ]),
    );
  });

  it('decodes a DUMP payload taken from the server', async () => {
    const c = server.client();
    const payload = await c.dumpBuffer('zset:small');
    expect(payload).not.toBeNull();
    const { rdbType, value, rdbVersion } = parseDumpPayload(payload as Buffer);
    expect(rdbVersion).toBe(10);
    const chunks: ValueChunk[] = [];
    for await (const chunk of decodeBuffer(rdbType, value)) chunks.push(chunk);
    const flat = chunks.flatMap((ch) => (ch.type === 'zset' ? ch.items : []));
    expect(flat.find(([m]) => m.toString() === 'pos-inf')?.[1]).toBe(Infinity);
    expect(flat.find(([m]) => m.toString() === 'tiny')?.[1]).toBe(5e-324);
  });

  it('delivers a million-element hash in bounded chunks, and refuses to capture it raw past the limit', async () => {
    const big = await startRedis({ label: 'rdb-big' });
    try {
      await populate(big.client(), { catalogue: false, bigKeys: { elements: 1_000_000, types: ['hash'] } });
      await big.client().save();
      let fields = 0;
      let biggestChunk = 0;
      for await (const e of parseRdbFile(big.rdbPath, { rawLimit: 4 << 20, chunkElements: 1000 })) {
        if (e.kind !== 'key') continue;
        expect(e.sizeHint.elements).toBe(1_000_000);
        expect(await e.raw()).toBeUndefined(); // ~20 MB serialized: over the 4 MB limit
        for await (const chunk of e.chunks()) {
          if (chunk.type !== 'hash') continue;
          fields += chunk.items.length;
          biggestChunk = Math.max(biggestChunk, chunk.items.length);
        }
      }
      expect(fields).toBe(1_000_000);
      expect(biggestChunk).toBeLessThanOrEqual(1000);
    } finally {
      await big.stop();
    }
  });

  it('reads the same entries and raw values in batches (the migration fast path)', async () => {
    const batched = await collect(server.rdbPath, { raw: true, batched: true });
    expect(batched.checksum).toBe('ok');
    expect(batched.keys.map((k) => `${k.db}:${k.key.toString('hex')}:${k.raw?.toString('hex')}`)).toEqual(
      parsed.keys.map((k) => `${k.db}:${k.key.toString('hex')}:${k.raw?.toString('hex')}`),
    );
    expect(JSON.stringify(batched.keys.map((k) => k.chunks))).toBe(
      JSON.stringify(parsed.keys.map((k) => k.chunks)),
    );
  });

  it('verifies the checksum on a worker thread too, and catches a wrong one', async () => {
    const threaded = await collect(server.rdbPath, { checksumThread: true, batched: true });
    expect(threaded.checksum).toBe('ok');
    const bytes = readFileSync(server.rdbPath);
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 0xff; // the checksum's last byte
    for (const checksumThread of [false, true]) {
      await expect(collect([bytes], { checksumThread })).rejects.toMatchObject({
        code: 'RDB_CORRUPT',
        message: expect.stringContaining('checksum mismatch'),
      });
    }
    // the thread reading the bytes from the file itself (an RDB file, a snapshot spool)
    const fromFile = await collect(server.rdbPath, {
      checksumThread: true,
      checksumFile: server.rdbPath,
      batched: true,
    });
    expect(fromFile.checksum).toBe('ok');
    const dir = mkdtempSync(join(tmpdir(), 'ferry-crc-'));
    try {
      const bad = join(dir, 'bad.rdb');
      writeFileSync(bad, bytes);
      await expect(collect(bad, { checksumThread: true, checksumFile: bad })).rejects.toMatchObject({
        code: 'RDB_CORRUPT',
        message: expect.stringContaining('checksum mismatch'),
      });
      // a file that does not hold what was parsed is said so, not taken for a checksum
      const short = join(dir, 'short.rdb');
      writeFileSync(short, bytes.subarray(0, 1000));
      await expect(collect(server.rdbPath, { checksumThread: true, checksumFile: short })).rejects.toThrow(
        /checksum thread: the input file ends at byte 1000/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads a file delivered in tiny pieces exactly as the whole', async () => {
    // 97-byte pieces: every header, length and blob of the file gets cut somewhere
    const tiny = await collect(createReadStream(server.rdbPath, { highWaterMark: 97 }), { batched: true });
    expect(tiny.keys.length).toBe(parsed.keys.length);
    expect(tiny.keys.map((k) => k.key.toString('hex'))).toEqual(
      parsed.keys.map((k) => k.key.toString('hex')),
    );
    expect(JSON.stringify(tiny.keys.map((k) => k.chunks))).toBe(
      JSON.stringify(parsed.keys.map((k) => k.chunks)),
    );
  });
});
