/**
 * The example transform: its naming, then a migration from a standalone source into a real
 * 3-master cluster under live writes, a transaction on one user's keys included, checked through
 * the transform by the engine's own check before "done" and by the verifier.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEngine, MemoryCheckpointStore } from '@ferry/core';
import { sourceStandalone } from '@ferry/source-standalone';
import { record, serverScope, untilSynced } from '@ferry/testkit';
import { verifier, verify } from '@ferry/verify';
import { afterAll, describe, expect, it } from 'vitest';
import { hashTags } from '../src/index.js';

const servers = serverScope();
afterAll(() => servers.stop());

describe('hash-tags transform', () => {
  it('tags the first two parts; leaves short keys and keys with braces as they are', () => {
    const t = hashTags();
    const name = (k: string): string => String(t.key(Buffer.from(k), 0));
    expect(name('user:42:cart')).toBe('{user:42}:cart');
    expect(name('user:42:cart:items')).toBe('{user:42}:cart:items');
    expect(name('user:42')).toBe('user:42');
    expect(name('plain')).toBe('plain');
    expect(name('{user:42}:cart')).toBe('{user:42}:cart');
    expect(name('a}b:c:d')).toBe('a}b:c:d');
    expect(t.sourceKey).toBeUndefined();
  });

  it('migrates into a cluster under writes with every key renamed, transactions kept whole, checked through the transform', async () => {
    const source = await servers.redis({ label: 'source' });
    const target = await servers.cluster({ masters: 3 });
    const c = source.client();
    for (let u = 0; u < 200; u++) {
      await c.hset(`user:${u}:profile`, 'name', `n${u}`, 'age', String(u));
      await c.rpush(`user:${u}:cart`, 'a', 'b', 'c');
      await c.set(`user:${u}:seen`, String(u), 'EX', 3600);
    }
    await c.set('plain', 'kept');
    const engine = createEngine({
      plugins: [sourceStandalone(), hashTags()],
      checkpoints: new MemoryCheckpointStore(),
      spoolDir: mkdtempSync(join(tmpdir(), 'ferry-spool-')),
      verifier,
    });
    const seed = target.seeds[0] as { host: string; port: number };
    const task = engine.createTask({
      id: 'hash-tags',
      source: { topology: 'standalone', options: { nodes: [source.endpoint] } },
      target: { endpoint: seed, cluster: true },
      options: { transforms: ['hash-tags'] },
    });
    const log = record(task);
    const running = task.start();
    await untilSynced(task, 500);
    // while streaming: a transaction on one user's keys (one slot once tagged) and some plain writes
    for (let u = 0; u < 50; u++) {
      await c.multi().incr(`user:${u}:visits`).rpush(`user:${u}:cart`, 'd').del(`user:${u}:seen`).exec();
    }
    await c.set('user:999:new', 'x');
    await untilSynced(task, 500);
    await task.complete();
    await running;
    expect(task.state, JSON.stringify(log.errors)).toBe('succeeded');
    // kept whole: no transaction had to be split across slots
    expect(
      log.warnings.filter((w) => /spans \d+ slots/.test(w)),
      log.warnings.join('\n'),
    ).toEqual([]);
    const t = target.client();
    expect(await t.hget('{user:7}:profile', 'name')).toBe('n7');
    expect(await t.lrange('{user:7}:cart', 0, -1)).toEqual(['a', 'b', 'c', 'd']);
    expect(await t.get('{user:7}:visits')).toBe('1');
    expect(await t.exists('{user:7}:seen')).toBe(0);
    expect(await t.exists('user:7:profile')).toBe(0);
    expect(await t.get('plain')).toBe('kept');
    expect(await t.get('{user:999}:new')).toBe('x');
    t.disconnect();
    // the verifier, through the transform: every source key is there under its new name; the other
    // way is not traced (no inverse), and the report says so
    const report = await verify({
      source: { endpoint: source.endpoint },
      target: { endpoint: seed, cluster: true },
      transform: { ids: ['hash-tags'], key: (k, db) => hashTags().key(k, db) },
    });
    expect(report.differences, JSON.stringify(report.details.slice(0, 5))).toBe(0);
    expect(report.keysChecked).toBe(200 * 3 + 1 + 50 - 50 + 1); // users × 3, plain, visits, seen gone, user:999
    expect(report.oneWay).toMatch(/transform hash-tags has no inverse/);
    // and it sees a value that differs under the new name
    await source.command('HSET', 'user:7:profile', 'name', 'changed');
    const after = await verify({
      source: { endpoint: source.endpoint },
      target: { endpoint: seed, cluster: true },
      transform: { ids: ['hash-tags'], key: (k, db) => hashTags().key(k, db) },
      rounds: 1,
    });
    expect(after.details.map((d) => `${d.kind} ${d.key} ${d.targetKey}`)).toEqual([
      'value user:7:profile {user:7}:profile',
    ]);
    c.disconnect();
  });
});
