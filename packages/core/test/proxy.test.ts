import { describe, expect, it } from 'vitest';
import { proxyRefuses } from '../src/index.js';

const k = (s: string): Buffer => Buffer.from(s);

describe('what a proxy target takes', () => {
  it('twemproxy: its documented commands; one-server commands only on one key; no MULTI, SELECT, RENAME, XADD, FLUSHDB', () => {
    expect(proxyRefuses('twemproxy', 'set', [k('a')])).toBeUndefined();
    expect(proxyRefuses('twemproxy', 'mset', [k('a'), k('b')])).toBeUndefined();
    expect(proxyRefuses('twemproxy', 'del', [k('a'), k('b')])).toBeUndefined();
    expect(proxyRefuses('twemproxy', 'unlink', [k('a')])).toBeUndefined();
    for (const c of ['multi', 'select', 'rename', 'xadd', 'flushdb', 'publish', 'swapdb'])
      expect(proxyRefuses('twemproxy', c, [k('a')])).toMatch(/twemproxy does not support/);
    expect(proxyRefuses('twemproxy', 'sunionstore', [k('d'), k('a')])).toMatch(/different servers/);
    expect(proxyRefuses('twemproxy', 'rpoplpush', [k('a'), k('a')])).toBeUndefined();
    expect(proxyRefuses('twemproxy', 'set', [Buffer.alloc(16_336)], 16_335)).toMatch(/16336 bytes, longer/);
  });

  it('codis: everything but its refused table; several keys only under one {tag}', () => {
    expect(proxyRefuses('codis', 'xadd', [k('s')])).toBeUndefined();
    for (const c of ['restore', 'multi', 'rename', 'scan', 'flushdb', 'keys', 'migrate'])
      expect(proxyRefuses('codis', c, [k('a')])).toMatch(/codis-proxy does not allow/);
    expect(proxyRefuses('codis', 'sunionstore', [k('{u}d'), k('{u}a')])).toBeUndefined();
    expect(proxyRefuses('codis', 'sunionstore', [k('{u}d'), k('{v}a')])).toMatch(/different servers/);
  });
});
