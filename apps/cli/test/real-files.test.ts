/**
 * Files written by real servers of the newer releases — Redis 8.6.3 (RDB 13) and Valkey 9.1.2
 * (VALKEY080), built from the sources Debian ships — with what each server held, read back with its
 * own commands, beside them (`pnpm fixtures:real`, see the testkit's real-fixtures-cli.ts): every
 * type in each encoding, key and hash-field TTLs, a consumer group, Redis 8.6's idempotent
 * producers, two dbs. Runs everywhere (no such server is needed): `ferry rdb --json` must list
 * exactly what the server held, and `--source-file` must restore it into Debian's Redis 7.0 by the
 * rewrite path, exactly but for what 7.0 cannot hold (field TTLs, producers), each said.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serverScope } from '@ferry/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { runFerry, stateDir, url } from './cli.js';

const servers = serverScope();
afterAll(() => servers.stop());
const fixtures = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');

interface Held {
  db: number;
  key: string;
  type: string;
  expireAt: number;
  value: unknown;
}

/** `ferry rdb --json`'s line for a key in the form the fixture records what the server held. */
function asHeld(line: {
  db: number;
  key: string;
  type: string;
  expireAt: number | null;
  value: unknown;
}): Held {
  const { db, key, type } = line;
  const expireAt = line.expireAt ?? -1;
  let value = line.value;
  if (type === 'set') value = [...(value as string[])].sort();
  else if (type === 'zset')
    value = [...(value as Array<[string, number]>)].sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1));
  else if (type === 'hash')
    value = [...(value as Array<[string, string, number?]>)].sort((a, b) =>
      a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0,
    );
  else if (type === 'stream') {
    const s = value as {
      entries: Array<{ id: string; fields: string[] }>;
      groups: Array<{
        name: string;
        lastId: string;
        pending: Array<{ id: string }>;
        consumers: Array<{ name: string; pending: string[] }>;
      }>;
    };
    const owner = (g: (typeof s.groups)[number], id: string): string | undefined =>
      g.consumers.find((c) => c.pending.includes(id))?.name;
    value = {
      entries: s.entries.map((e) => [e.id, e.fields]),
      groups: s.groups.map((g) => ({
        name: g.name,
        lastId: g.lastId,
        pending: g.pending.map((p) => [p.id, owner(g, p.id)]),
      })),
    };
  }
  return { db, key, type, expireAt, value };
}

const byKey = (a: Held, b: Held): number => a.db - b.db || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);

describe.each([
  ['redis86-real', 'Redis 8.6.3'],
  ['valkey91-real', 'Valkey 9.1.2'],
])('%s (written by %s)', (name, server) => {
  const recorded = JSON.parse(readFileSync(join(fixtures, `${name}.json`), 'utf8')) as {
    server: string;
    keys: Held[];
  };

  it('ferry rdb --json lists every key as the server held it: type, value, TTL, hash-field TTLs, groups', async () => {
    expect(server).toContain(recorded.server);
    const r = await runFerry(['rdb', join(fixtures, `${name}.rdb`), '--json']);
    expect(r.code, r.stderr).toBe(0);
    const read = r.stdout
      .trim()
      .split('\n')
      .map((l) => asHeld(JSON.parse(l)))
      .sort(byKey);
    expect(read).toEqual([...recorded.keys].sort(byKey));
  });

  it('--source-file restores it into Debian 7.0 (rewrite path): the values exact, field TTLs and producers not, said', async () => {
    const target = await servers.redis({ label: `${name}-into-70` });
    const r = await runFerry([
      'migrate',
      '--source-file',
      join(fixtures, `${name}.rdb`),
      '--target',
      url(target),
      '--state-dir',
      stateDir(),
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/hash field expirations need Redis 7\.4 or Valkey 9\.0 on the target/);
    if (name === 'redis86-real') expect(r.stderr).toMatch(/idempotent-producer \(IDMP\) state/);
    const c = target.client();
    for (const k of recorded.keys) {
      await c.select(k.db);
      expect(await c.type(k.key), k.key).toBe(k.type);
      expect(Number(await c.call('PEXPIRETIME', k.key)), k.key).toBe(k.expireAt);
      if (k.type === 'string') expect(await c.get(k.key)).toBe(k.value);
      else if (k.type === 'list') expect(await c.lrange(k.key, 0, -1)).toEqual(k.value);
      else if (k.type === 'set') expect((await c.smembers(k.key)).sort()).toEqual(k.value);
      else if (k.type === 'zset') {
        const flat = await c.zrange(k.key, 0, -1, 'WITHSCORES');
        expect(
          Array.from({ length: flat.length / 2 }, (_, i) => [flat[2 * i], Number(flat[2 * i + 1])]),
        ).toEqual(k.value);
      } else if (k.type === 'hash') {
        const all = await c.hgetall(k.key);
        // 7.0 has no field TTLs: the fields and values, without them
        expect(Object.entries(all).sort()).toEqual((k.value as string[][]).map(([f, v]) => [f, v]));
      } else if (k.type === 'stream') {
        const v = k.value as {
          entries: unknown[];
          groups: Array<{ name: string; lastId: string; pending: string[][] }>;
        };
        expect(await c.xrange(k.key, '-', '+')).toEqual(v.entries);
        for (const g of v.groups) {
          const pending = (await c.xpending(k.key, g.name, '-', '+', 1000)) as string[][];
          expect(pending.map(([id, consumer]) => [id, consumer])).toEqual(g.pending);
        }
      }
    }
    c.disconnect();
  });
});
