import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { type RedisServer, startRedis, startTwemproxy, type Twemproxy } from '../src/index.js';
import { expectAllDead } from './helpers.js';

describe('startTwemproxy', () => {
  const backends: RedisServer[] = [];
  let proxy: Twemproxy | undefined;
  afterAll(async () => {
    await proxy?.stop();
    await Promise.all(backends.map((b) => b.stop()));
  });

  it('runs nutcracker over 3 backends from a generated nutcracker.yml and stops it', async () => {
    backends.push(...(await Promise.all([startRedis(), startRedis(), startRedis()])));
    proxy = await startTwemproxy({ backends, hash: 'fnv1a_64', distribution: 'ketama', pool: 'orders' });
    const yml = readFileSync(proxy.configPath, 'utf8');
    expect(yml).toContain('orders:');
    expect(yml).toContain('distribution: ketama');
    for (const b of backends) expect(yml).toContain(`127.0.0.1:${b.port}:1`);

    const client = proxy.client();
    for (let i = 0; i < 300; i++) await client.set(`k${i}`, String(i));
    expect(await client.get('k42')).toBe('42');
    const counts = await Promise.all(backends.map((b) => b.client().dbsize()));
    expect(counts.reduce((a, b) => a + b, 0)).toBe(300);
    expect(counts.every((n) => n > 0)).toBe(true); // ketama spread keys over every backend

    const pid = proxy.pid;
    await proxy.stop();
    await expectAllDead([pid]);
  });

  it('passes redis_auth to backends that need a password', async () => {
    const secured = await Promise.all([startRedis({ password: 'pw' }), startRedis({ password: 'pw' })]);
    backends.push(...secured);
    const p = await startTwemproxy({
      backends: secured.map((s) => ({ endpoint: s.endpoint })),
      password: 'pw',
    });
    try {
      const client = p.client();
      await client.set('a', '1');
      expect(await client.get('a')).toBe('1');
    } finally {
      await p.stop();
    }
  });
});
