import { copyFileSync } from 'node:fs';
import { type RedisServer, startRedis } from '@ferry/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collect, type Parsed } from './collect.js';
import { expectKeyMatches } from './compare.js';
import { fixtures } from './fixtures.js';

const all = fixtures();

/**
 * Every distinct fixture is loaded by a real redis-server (the one on PATH, 7.0 here) and parsed by
 * Ferry. Where the server loads it, every key must equal what the server returns; where it refuses,
 * Ferry must refuse too with a clear error, unless the refusal is only that the file is newer than
 * the server (RDB 11/12), in which case Ferry parses it and the key count must match the index.
 */
describe('real RDB fixtures against a real redis-server', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedis({ label: 'fixtures' });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('covers the fixture collection', () => {
    expect(all.length).toBeGreaterThan(70);
  });

  it("reads a Valkey 9 file (VALKEY080) by Valkey's own type numbers", async () => {
    const valkey = all.find((f) => f.magic.startsWith('VALKEY'));
    expect(valkey).toBeDefined();
    const parsed = await collect((valkey as { path: string }).path);
    // Valkey 9.0 rdb.c, RDB_TYPE_HASH_2 (22 after "VALKEY"; after "REDIS" 22 is another type):
    // field, value, then the field's expiry as an 8-byte millisecond time, -1 for none
    expect(parsed.keys.map((k) => [k.key.toString(), k.type, k.encoding])).toEqual([
      ['hash2-hfe', 'hash', 'hashtable'],
    ]);
    expect(JSON.stringify(parsed.keys[0]?.chunks)).toContain('2715785640000');
  });

  it.each(all.map((f) => [f.name, f] as const))('%s', async (_name, fixture) => {
    let parsed: Parsed | undefined;
    let parseError: (Error & { code?: string }) | undefined;
    try {
      parsed = await collect(fixture.path);
    } catch (err) {
      parseError = err as Error & { code?: string };
    }
    // the batched fast path (raw capture, then decoding from it) must agree, errors included
    const batched = await collect(fixture.path, { batched: true, raw: true, checksumThread: true }).catch(
      (err: Error & { code?: string }) => err,
    );
    if (parseError) expect((batched as Error & { code?: string }).code).toBe(parseError.code);
    else {
      expect((batched as Parsed).keys.map((k) => k.chunks)).toEqual(parsed?.keys.map((k) => k.chunks));
      expect((batched as Parsed).checksum).toBe(parsed?.checksum);
    }

    await server.kill();
    copyFileSync(fixture.path, server.rdbPath);
    let loadError: string | undefined;
    try {
      await server.restart();
    } catch (err) {
      loadError = (err as Error).message;
    }

    if (loadError !== undefined) {
      // newer than this server, or Valkey 9's own format (which a Redis server does not recognise)
      const onlyVersion =
        (/Can't handle RDB format version/i.test(loadError) && fixture.magic.startsWith('REDIS')) ||
        (/Wrong signature/i.test(loadError) && fixture.magic.startsWith('VALKEY'));
      const onlyModule = /module data I can't load|no matching module/i.test(loadError);
      if (onlyVersion || onlyModule) {
        // newer than this server, or data of a module it lacks: Ferry must read it all the same
        // (module values are walked opcode by opcode and carried raw) — except pre-GA module values,
        // which nothing can walk without the module: those must be refused as unsupported
        if (onlyModule && parseError?.code === 'RDB_UNSUPPORTED') {
          expect(parseError.message).toContain('pre-GA');
          return;
        }
        expect(
          parseError,
          `Ferry failed where only the server's version was the problem: ${parseError?.message}`,
        ).toBeUndefined();
        // (the index's scanner reads the Redis lineage only: it counted no key in the Valkey file)
        if (fixture.indexKeys !== undefined && !fixture.magic.startsWith('VALKEY'))
          expect(parsed?.keys.length).toBe(fixture.indexKeys);
      } else {
        expect(
          parseError,
          `redis-server refused this file (${loadError.split('\n').slice(-3).join(' ')}) but Ferry accepted it`,
        ).toBeDefined();
        expect(['RDB_CORRUPT', 'RDB_UNSUPPORTED']).toContain(parseError?.code);
        expect(parseError?.message).toMatch(/at byte \d+/);
      }
      await server.kill().catch(() => {});
      return;
    }

    expect(
      parseError,
      `redis-server loaded this file but Ferry failed: ${parseError?.message}`,
    ).toBeUndefined();
    if (!parsed) return;
    const now = Date.now();
    // the server drops keys that expired, and empty ones, on load
    const live = parsed.keys.filter(
      (k) => !k.empty && (k.expireAtMs === undefined || k.expireAtMs > now + 1000),
    );
    const dbs = [...new Set(live.map((k) => k.db))];
    for (const db of new Set([0, ...dbs])) {
      const c = server.client({ db });
      const expected = live.filter((k) => k.db === db);
      const hasModules = expected.some((k) => k.type === 'module');
      if (!hasModules) expect(await c.dbsize(), `keys in db ${db}`).toBe(expected.length);
      // many keys in flight (ioredis pipelines them): a 92 000-key fixture is checked in seconds
      const plain = expected.filter((k) => k.type !== 'module');
      for (let i = 0; i < plain.length; i += 256)
        await Promise.all(plain.slice(i, i + 256).map((k) => expectKeyMatches(c, k)));
      c.disconnect();
    }
    if (parsed.functions.length > 0) {
      // every library as FUNCTION LOAD would take it, byte for byte what the server holds
      const list = (await server.command('FUNCTION', 'LIST', 'WITHCODE')) as unknown[][];
      const codes = list.map((lib) => String(lib[lib.indexOf('library_code') + 1])).sort();
      expect(parsed.functions.map((f) => f.toString()).sort()).toEqual(codes);
    }
  });
});
