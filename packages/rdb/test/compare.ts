import type { Redis } from 'ioredis';
import { expect } from 'vitest';
import { items, type ParsedKey } from './collect.js';

const hex = (b: Buffer): string => b.toString('hex');

function score(s: string): number {
  return s === 'inf' ? Infinity : s === '-inf' ? -Infinity : Number(s);
}

type Reply = Buffer | number | null | Reply[];
function pairs(r: Reply): Map<string, Reply> {
  const m = new Map<string, Reply>();
  if (Array.isArray(r)) for (let i = 0; i + 1 < r.length; i += 2) m.set(String(r[i]), r[i + 1] ?? null);
  return m;
}

/** Asserts that the key as parsed equals the key as a real server returns it. */
export async function expectKeyMatches(client: Redis, k: ParsedKey): Promise<void> {
  const label = `${k.type} ${k.key.toString('latin1').slice(0, 60)}`;
  expect(await client.type(k.key), label).toBe(k.type);
  if (k.type === 'string') {
    const data = Buffer.concat(items(k, 'string').map((c) => c.data));
    expect(hex((await client.getBuffer(k.key)) ?? Buffer.alloc(0)), label).toBe(hex(data));
  } else if (k.type === 'list') {
    const mine = items(k, 'list').flatMap((c) => c.items.map(hex));
    expect((await client.lrangeBuffer(k.key, 0, -1)).map(hex), label).toEqual(mine);
  } else if (k.type === 'set') {
    const mine = items(k, 'set')
      .flatMap((c) => c.items.map(hex))
      .sort();
    expect((await client.smembersBuffer(k.key)).map(hex).sort(), label).toEqual(mine);
  } else if (k.type === 'zset') {
    const mine = new Map(items(k, 'zset').flatMap((c) => c.items.map(([m, s]) => [hex(m), s] as const)));
    const flat = await client.zrangeBuffer(k.key, 0, -1, 'WITHSCORES');
    const theirs = new Map<string, number>();
    for (let i = 0; i < flat.length; i += 2)
      theirs.set(hex(flat[i] as Buffer), score((flat[i + 1] as Buffer).toString()));
    expect(theirs, label).toEqual(mine);
  } else if (k.type === 'hash') {
    const mine = items(k, 'hash').flatMap((c) => c.items.map(([f, v]) => [hex(f), hex(v)] as const));
    mine.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const fields = (await client.hkeysBuffer(k.key)).sort(Buffer.compare);
    const values = fields.length ? await client.hmgetBuffer(k.key, ...fields) : [];
    const theirs = fields.map((f, i) => [hex(f), hex(values[i] ?? Buffer.alloc(0))] as const);
    theirs.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    expect(theirs, label).toEqual(mine);
  } else if (k.type === 'stream') {
    const mine = items(k, 'stream-entries').flatMap((c) => c.entries.map((e) => [e.id, e.fields.map(hex)]));
    const range = (await client.callBuffer('XRANGE', k.key, '-', '+')) as Array<[Buffer, Buffer[]]>;
    expect(
      range.map(([id, f]) => [id.toString(), f.map(hex)]),
      label,
    ).toEqual(mine);
    const [meta] = items(k, 'stream-meta');
    const info = pairs((await client.callBuffer('XINFO', 'STREAM', k.key)) as Reply);
    expect(Number(info.get('length')), label).toBe(meta?.length);
    expect(String(info.get('last-generated-id')), label).toBe(meta?.lastId);
    if (meta?.maxDeletedId && info.has('max-deleted-entry-id')) {
      expect(String(info.get('max-deleted-entry-id')), label).toBe(meta.maxDeletedId);
      expect(Number(info.get('entries-added')), label).toBe(meta.entriesAdded);
    }
    const groups = ((await client.callBuffer('XINFO', 'GROUPS', k.key)) as Reply[]).map(pairs);
    const mineGroups = items(k, 'stream-group').map((g) => g.group);
    expect(groups.map((g) => String(g.get('name'))).sort(), label).toEqual(
      mineGroups.map((g) => g.name.toString()).sort(),
    );
    for (const g of mineGroups) {
      const theirs = groups.find((x) => String(x.get('name')) === g.name.toString());
      expect(String(theirs?.get('last-delivered-id')), label).toBe(g.lastId);
      const pel = items(k, 'stream-pel')
        .filter((p) => p.group.equals(g.name))
        .flatMap((p) => p.pending);
      expect(Number(theirs?.get('pending')), label).toBe(pel.length);
      const ext = (await client.callBuffer('XPENDING', k.key, g.name, '-', '+', 100000)) as Array<
        [Buffer, Buffer, number, number]
      >;
      expect(
        ext.map((e) => [e[0].toString(), e[3]]),
        label,
      ).toEqual(pel.map((p) => [p.id, p.deliveryCount]));
      const consumers = items(k, 'stream-consumer').filter((c) => c.group.equals(g.name));
      for (const c of consumers) {
        const owned = ext.filter((e) => e[1].equals(c.name)).map((e) => e[0].toString());
        expect(owned, `${label} consumer ${c.name}`).toEqual(
          consumers.filter((x) => x.name.equals(c.name)).flatMap((x) => x.pending),
        );
      }
    }
  }
  if (k.expireAtMs !== undefined) {
    expect(Number(await client.call('PEXPIRETIME', k.key)), label).toBe(k.expireAtMs);
  } else {
    expect(await client.pttl(k.key), label).toBe(-1);
  }
}
