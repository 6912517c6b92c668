import { isFerryError } from '@ferry/errors';
import { describe, expect, it } from 'vitest';
import {
  assertAllowed,
  COMMANDS,
  canTransition,
  codisSlot,
  composeTransforms,
  globToRegExp,
  KeyMapper,
  keyFilter,
  keyPositions,
  keySlot,
  PluginRegistry,
  parseDbMap,
  parseFilter,
  parseNodeSpec,
  parseRedisUrl,
  replaySafe,
  resolveOptions,
  SLOTS,
  type SourceTopologyPlugin,
  satisfies,
  slotTag,
} from '../src/index.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const argv = (...a: string[]): Buffer[] => a.map(b);

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return isFerryError(err) ? err.code : 'OTHER';
  }
  return undefined;
}

describe('endpoints', () => {
  it('reads host:port[:password], with colons in the password and IPv6 in brackets', () => {
    expect(parseNodeSpec('10.0.0.1:6379')).toEqual({ host: '10.0.0.1', port: 6379 });
    expect(parseNodeSpec('h:7000:pa:ss:word')).toEqual({ host: 'h', port: 7000, password: 'pa:ss:word' });
    expect(parseNodeSpec('[::1]:6380:pw')).toEqual({ host: '::1', port: 6380, password: 'pw' });
    expect(parseNodeSpec('redis://u:p%40ss@h:1')).toEqual({
      host: 'h',
      port: 1,
      username: 'u',
      password: 'p@ss',
    });
    for (const bad of ['h', 'h:0', 'h:99999', ':6379', 'h:12ab', '[::1:6379'])
      expect(
        code(() => parseNodeSpec(bad)),
        bad,
      ).toBe('CONFIG_INVALID');
  });

  it('reads redis:// and rediss:// URLs with password-only and ACL forms', () => {
    expect(parseRedisUrl('redis://:secret@h:7000/3')).toEqual({
      endpoint: { host: 'h', port: 7000, password: 'secret' },
      db: 3,
    });
    expect(parseRedisUrl('rediss://h')).toEqual({ endpoint: { host: 'h', port: 6379, tls: true } });
    expect(code(() => parseRedisUrl('http://h:1'))).toBe('CONFIG_INVALID');
    expect(code(() => parseRedisUrl('redis://h:1/x'))).toBe('CONFIG_INVALID');
  });
});

describe('options', () => {
  it('parses db maps and refuses bad ones', () => {
    expect(parseDbMap('0=0,1=0+db1:,*=5')).toEqual({
      0: { db: 0 },
      1: { db: 0, prefix: 'db1:' },
      '*': { db: 5 },
    });
    for (const bad of ['0', '0=a', 'x=1', '0=1,0=2'])
      expect(
        code(() => parseDbMap(bad)),
        bad,
      ).toBe('CONFIG_INVALID');
  });

  it('validates every option with the offending value named', () => {
    expect(resolveOptions({}).conflict).toBe('fail');
    expect(code(() => resolveOptions({ writeMode: 'fast' as never }))).toBe('CONFIG_INVALID');
    expect(code(() => resolveOptions({ rateLimit: { keysPerSec: -1 } }))).toBe('CONFIG_INVALID');
    expect(code(() => resolveOptions({ filter: { include: [{ regex: '(' }] } }))).toBe('CONFIG_INVALID');
    expect(resolveOptions({}).targetImportMode).toBe('auto');
    expect(resolveOptions({ targetImportMode: 'off' }).targetImportMode).toBe('off');
    expect(code(() => resolveOptions({ targetImportMode: 'yes' as never }))).toBe('CONFIG_INVALID');
  });
});

describe('keys', () => {
  it('matches Redis globs on bytes', () => {
    expect(globToRegExp('user:*').test('user:1')).toBe(true);
    expect(globToRegExp('h?llo').test('hallo')).toBe(true);
    expect(globToRegExp('h[^e]llo').test('hello')).toBe(false);
    expect(globToRegExp('h[a-b]llo').test('hbllo')).toBe(true);
    expect(globToRegExp('a\\*b').test('a*b')).toBe(true);
    expect(globToRegExp('a\\*b').test('axb')).toBe(false);
    expect(globToRegExp('x.y').test('xzy')).toBe(false);
  });

  it('filters with include and exclude of every kind', () => {
    const f = keyFilter(
      parseFilter(['user:*', 'prefix:order:', '!user:tmp:*', '!regex:^order:\\d+:draft$']),
    ) as (k: Buffer) => boolean;
    expect(f(b('user:1'))).toBe(true);
    expect(f(b('user:tmp:1'))).toBe(false);
    expect(f(b('order:12'))).toBe(true);
    expect(f(b('order:12:draft'))).toBe(false);
    expect(f(b('other'))).toBe(false);
    expect(keyFilter({})).toBeUndefined();
  });

  it('maps dbs with prefixes and forces db 0 on a cluster', () => {
    const m = new KeyMapper({ 1: { db: 0, prefix: 'one:' }, '*': { db: 2 } }, 'x:', {}, false);
    expect(m.route(1)).toEqual({ db: 0, prefix: b('one:x:') });
    expect(m.route(7)).toEqual({ db: 2, prefix: b('x:') });
    expect(new KeyMapper({ 0: { db: 0 } }, '', {}, false).route(3)).toBeUndefined();
    expect(new KeyMapper(undefined, '', {}, true).route(4)).toEqual({ db: 0, prefix: undefined });
  });

  it('finds a hash tag for every slot', () => {
    for (const slot of [0, 1, 5000, 16383]) expect(keySlot(b(`x{${slotTag(slot)}}y`))).toBe(slot);
    // the smallest base-36 number hashing into the slot: the names every Ferry version gives its
    // keys (a lease or checkpoint on a target is found by a newer Ferry), counted here the slow way
    const first = new Map<number, string>();
    for (let i = 0; first.size < SLOTS; i++) {
      const s = keySlot(b(i.toString(36)));
      if (!first.has(s)) first.set(s, i.toString(36));
    }
    for (let slot = 0; slot < SLOTS; slot++) expect(slotTag(slot)).toBe(first.get(slot));
    expect(() => slotTag(SLOTS)).toThrow(RangeError);
    expect(keySlot(b('123456789'))).toBe(12739); // CRC16/XMODEM check value 0x31C3
    expect(keySlot(b('{user1000}.following'))).toBe(keySlot(b('user1000')));
  });

  it("computes Codis slots as codis-proxy does: CRC-32 of Codis's hash tag, modulo 1024", async () => {
    expect(codisSlot(b('123456789'))).toBe(0xcbf43926 % 1024); // CRC-32/IEEE check value
    expect(codisSlot(b(''))).toBe(0);
    expect(codisSlot(b('a{user1000}b'))).toBe(codisSlot(b('user1000')));
    // unlike Redis Cluster, an empty tag is the tag: "{}" hashes the empty string
    expect(codisSlot(b('{}x'))).toBe(0); // the whole key "{}x" would be slot 22
    expect(codisSlot(b('a{b'))).toBe(76); // no closing brace: the whole key (CRC-32 0xd923d84c)
    expect(codisSlot(b('x}{y}'))).toBe(codisSlot(b('y')));
    // against zlib's CRC-32 where this Node has it (20.15 and later)
    const zlib = (await import('node:zlib')) as { crc32?: (d: Buffer) => number };
    if (zlib.crc32) {
      for (let i = 0; i < 500; i++) {
        const k = Buffer.from(`key:${i}:${'x'.repeat(i % 37)}\u00e9\r\n`, 'utf8');
        expect(codisSlot(k)).toBe(zlib.crc32(k) % 1024);
      }
    }
  });
});

describe('transforms', () => {
  const meta = { name: 't', version: '1.0.0', engine: '*' };
  const prefix = {
    kind: 'transform' as const,
    meta,
    id: 'prefix',
    title: 'a:',
    key: (k: Buffer) => Buffer.concat([b('a:'), k]),
    sourceKey: (k: Buffer) => (k.subarray(0, 2).equals(b('a:')) ? k.subarray(2) : null),
  };
  const upper = {
    kind: 'transform' as const,
    meta,
    id: 'upper',
    title: 'upper case',
    key: (k: Buffer) => b(k.toString('latin1').toUpperCase()),
    sourceKey: (k: Buffer) => b(k.toString('latin1').toLowerCase()),
  };
  const dropTmp = {
    kind: 'transform' as const,
    meta,
    id: 'drop-tmp',
    title: 'no tmp:',
    key: (k: Buffer) => (k.toString('latin1').startsWith('tmp:') ? null : k),
  };

  it('applies in order, and undoes in the reverse order when every one has an inverse', () => {
    const t = composeTransforms([prefix, upper]);
    expect(String(t?.key(b('x'), 0))).toBe('A:X');
    expect(String(t?.sourceKey?.(b('A:X'), 0))).toBe('x'); // the prefix's inverse first would find 'A:', not 'a:'
    expect(t?.sourceKey?.(b('B:X'), 0)).toBeNull(); // upper undone first, then the prefix is missing
    expect(composeTransforms([])).toBeUndefined();
  });

  it('drops a key any of them drops; without every inverse there is none', () => {
    const t = composeTransforms([dropTmp, prefix]);
    expect(t?.key(b('tmp:1'), 0)).toBeNull();
    expect(String(t?.key(b('k'), 0))).toBe('a:k');
    expect(t?.sourceKey).toBeUndefined();
    const m = new KeyMapper(undefined, 'r:', {}, false, t);
    expect(m.filter?.(b('tmp:1'), 0)).toBe(false);
    expect(m.filter?.(b('k'), 0)).toBe(true);
    expect(String(m.name(b('k'), 0, m.route(0)?.prefix))).toBe('r:a:k');
    expect(m.renames).toBe(true);
  });
});

describe('commands', () => {
  it('locates keys, movable ones included', () => {
    const at = (...a: string[]): number[] =>
      keyPositions(COMMANDS.get(a[0] as string) ?? { first: 0, last: 0, step: 0, safe: false }, argv(...a));
    expect(at('mset', 'a', '1', 'b', '2')).toEqual([1, 3]);
    expect(at('del', 'a', 'b', 'c')).toEqual([1, 2, 3]);
    expect(at('eval', 'return 1', '2', 'k1', 'k2', 'arg')).toEqual([3, 4]);
    expect(at('zunionstore', 'd', '2', 's1', 's2', 'WEIGHTS', '1', '2')).toEqual([1, 3, 4]);
    expect(at('sort', 'src', 'BY', 'w_*', 'STORE', 'dst')).toEqual([1, 5]);
    expect(at('bitop', 'AND', 'dst', 'a', 'b')).toEqual([2, 3, 4]);
    expect(at('xgroup', 'CREATE', 'stream', 'g', '$')).toEqual([2]);
    expect(at('flushall')).toEqual([]);
  });

  it('tells replay-safe commands from the others', () => {
    const safe = (...a: string[]): boolean => replaySafe(COMMANDS.get(a[0] as string) as never, argv(...a));
    expect(safe('set', 'k', 'v')).toBe(true);
    expect(safe('set', 'k', 'v', 'NX')).toBe(false);
    expect(safe('zadd', 'z', '1', 'm')).toBe(true);
    expect(safe('zadd', 'z', 'INCR', '1', 'm')).toBe(false);
    expect(safe('lpush', 'l', 'x')).toBe(false);
    expect(safe('incr', 'n')).toBe(false);
    expect(safe('pexpireat', 'k', '1')).toBe(true);
    expect(safe('expire', 'k', '10')).toBe(false);
  });
});

describe('plugins', () => {
  const topo = (name: string, engine = '^0.1.0'): SourceTopologyPlugin => ({
    kind: 'source-topology',
    topology: name,
    meta: { name: `p-${name}`, version: '1.0.0', engine },
    parseOptions: (r) => r,
    discover: async () => [],
  });

  it('checks semver ranges the way plugins write them', () => {
    expect(satisfies('0.1.0', '^0.1.0')).toBe(true);
    expect(satisfies('0.2.0', '^0.1.0')).toBe(false);
    expect(satisfies('1.4.2', '^1.2.0')).toBe(true);
    expect(satisfies('2.0.0', '^1.2.0')).toBe(false);
    expect(satisfies('0.1.5', '~0.1.0')).toBe(true);
    expect(satisfies('0.1.0', '>=0.1.0 || 2.x')).toBe(true);
    expect(satisfies('0.1.0', '*')).toBe(true);
  });

  it('refuses duplicates and engine mismatches with coded errors', () => {
    const r = new PluginRegistry();
    r.register(topo('standalone'));
    expect(code(() => r.register(topo('standalone')))).toBe('CONFIG_INVALID');
    expect(code(() => r.register(topo('cluster', '^2.0.0')))).toBe('CONFIG_INVALID');
    expect(code(() => r.topology('codis'))).toBe('CONFIG_INVALID');
    expect(r.topology('standalone').meta.name).toBe('p-standalone');
  });
});

describe('task states', () => {
  it('allows each action only where it makes sense', () => {
    expect(code(() => assertAllowed('full_sync', 'complete'))).toBe('CONFIG_INVALID');
    expect(code(() => assertAllowed('incremental_sync', 'complete'))).toBeUndefined();
    expect(code(() => assertAllowed('succeeded', 'pause'))).toBe('CONFIG_INVALID');
    expect(canTransition('incremental_sync', 'paused')).toBe(true);
    expect(canTransition('succeeded', 'full_sync')).toBe(false);
  });
});

describe('encodeRestores', () => {
  it('is byte for byte what encodeCommand makes of each RESTORE with dumpPayload, back to back', async () => {
    const { encodeRestores } = await import('../src/restore.js');
    const { dumpPayload } = await import('@ferry/rdb');
    const { encodeCommand } = await import('@ferry/resp');
    const cases = [
      [b('k'), 0, b('\x05hello'), false, false],
      [Buffer.alloc(300, 7), 1_900_000_000_123, Buffer.alloc(70_000, 1), true, true],
      [b('x'), 5, b(''), true, false],
      // every digit count, the powers of ten and their neighbours, up to 2^53 - 1
      ...[9, 10, 11, 99, 100, 101, 999_999_999, 2 ** 31, 2 ** 32 + 1, 10 ** 15, 2 ** 53 - 1].map((ttl, i) => [
        b(`d${i}`),
        ttl,
        Buffer.alloc(i * 13, i),
        false,
        true,
      ]),
    ] as Array<[Buffer, number, Buffer, boolean, boolean]>;
    const expected: Buffer[] = [];
    for (const [key, ttl, value, replace, absttl] of cases) {
      const args: Array<string | number | Buffer> = ['RESTORE', key, ttl, dumpPayload(0, value, 10)];
      if (replace) args.push('REPLACE');
      if (absttl) args.push('ABSTTL');
      expected.push(encodeCommand(args));
      const one = encodeRestores([{ key, ttl, rdbType: 0, value, replace, absttl }], 10);
      expect(one.equals(encodeCommand(args))).toBe(true);
    }
    const unit = encodeRestores(
      cases.map(([key, ttl, value, replace, absttl]) => ({ key, ttl, rdbType: 0, value, replace, absttl })),
      10,
    );
    expect(unit.equals(Buffer.concat(expected))).toBe(true);
  });

  it('writes a string as SET [PXAT|PX ttl] [NX], byte for byte what encodeCommand makes, in the same unit', async () => {
    const { encodeRestores } = await import('../src/restore.js');
    const { encodeCommand } = await import('@ferry/resp');
    const cases = [
      [b('k'), 0, b('hello'), true, false],
      [b('k'), 0, b(''), false, true],
      [Buffer.alloc(300, 7), 1_900_000_000_123, Buffer.alloc(70_000, 1), true, true],
      [b('rel'), 9, b('v'), false, false],
      [b('big'), 2 ** 53 - 1, b('v'), true, true],
    ] as Array<[Buffer, number, Buffer, boolean, boolean]>;
    const expected: Buffer[] = [];
    const items = [];
    for (const [key, ttl, set, replace, absttl] of cases) {
      const args: Array<string | number | Buffer> = ['SET', key, set];
      if (ttl > 0) args.push(absttl ? 'PXAT' : 'PX', ttl);
      if (!replace) args.push('NX');
      expected.push(encodeCommand(args));
      const it = { key, ttl, rdbType: 0, value: b('unused'), replace, absttl, set };
      expect(encodeRestores([it], 10).equals(encodeCommand(args))).toBe(true);
      items.push(it);
    }
    // mixed with a RESTORE in one unit
    items.push({
      key: b('r'),
      ttl: 0,
      rdbType: 0,
      value: b('\x01x'),
      replace: true,
      absttl: false,
      set: undefined,
    });
    const { dumpPayload } = await import('@ferry/rdb');
    expected.push(encodeCommand(['RESTORE', 'r', 0, dumpPayload(0, b('\x01x'), 10), 'REPLACE']));
    expect(encodeRestores(items, 10).equals(Buffer.concat(expected))).toBe(true);
  });
});
