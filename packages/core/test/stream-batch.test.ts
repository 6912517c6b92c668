// The stream's batching on its own: which commands go to the target, grouped how, in which order.
// The target here is an in-memory writer that records what it is given (the same batches go to real
// servers in the plugins' migration and fault tests); nothing else is stood in for.
import type { StreamCommand } from '@ferry/replication';
import type { Arg, WireCommand } from '@ferry/resp';
import { describe, expect, it } from 'vitest';
import { OwnKeys } from '../src/ferry-keys.js';
import { KeyMapper } from '../src/keys.js';
import { MovedKeys } from '../src/moved.js';
import { resolveOptions, type TaskOptions } from '../src/options.js';
import { keySlot } from '../src/slot.js';
import { StreamBatch, type StreamHost, type StreamWriter } from '../src/stream-batch.js';
import type { ProxyKind } from '../src/target/proxy.js';

type Sent =
  | { kind: 'group'; db: number; slot: number | undefined; atomic: boolean; cmds: string[] }
  | { kind: 'broadcast'; db: number; cmd: string };

const text = (c: WireCommand | readonly Arg[]): string =>
  Buffer.isBuffer(c) ? `raw:${c.toString('latin1')}` : c.map((a) => String(a)).join(' ');

function memoryWriter(cluster: boolean, proxy?: ProxyKind): StreamWriter & { sent: Sent[] } {
  const sent: Sent[] = [];
  return {
    sent,
    cluster,
    proxy,
    maxKeyBytes: Number.POSITIVE_INFINITY,
    async sendGroup(db, slot, cmds, atomic) {
      sent.push({ kind: 'group', db, slot, atomic, cmds: cmds.map(text) });
      return [];
    },
    async broadcast(db, argv) {
      sent.push({ kind: 'broadcast', db, cmd: text(argv) });
    },
  } as StreamWriter & { sent: Sent[] };
}

function host(o: { cluster?: boolean; proxy?: ProxyKind; options?: TaskOptions } = {}) {
  const writer = memoryWriter(o.cluster ?? false, o.proxy);
  const options = resolveOptions(o.options ?? {});
  const warnings: string[] = [];
  const unsupported: string[] = [];
  const dbs = new Set<number>();
  const h: StreamHost = {
    context: {
      writer,
      mapper: new KeyMapper(options.dbMap, options.renamePrefix, options.filter, o.cluster ?? false),
      options,
      moved: new MovedKeys(),
      shard: { id: 's0', primary: { host: '127.0.0.1', port: 1 }, replicas: [] },
    },
    sourceDb: 0,
    own: new OwnKeys(options.reservedPrefix),
    metrics: {},
    heartbeatKey: Buffer.from('__ferry:hb'),
    heartbeat: () => undefined,
    tracksOwners: false,
    checkOwner: () => undefined,
    noteDb: (db) => dbs.add(db),
    alreadyApplied: () => false,
    domainCheckpointCommand: (domain, offset) => ['SET', `ckpt:${domain}`, offset],
    warn: (m) => warnings.push(m),
    unsupported: (m) => unsupported.push(m),
  };
  return { h, writer, warnings, unsupported, dbs };
}

let offset = 0;
const cmd = (...args: string[]): StreamCommand => ({
  argv: args.map((a) => Buffer.from(a)),
  offset: ++offset,
});

async function run(h: StreamHost, cmds: StreamCommand[]): Promise<StreamBatch> {
  const b = new StreamBatch(h);
  for (const c of cmds) b.add(c);
  await b.send();
  return b;
}

describe('StreamBatch, standalone target', () => {
  it('drops PING and REPLCONF, follows SELECT with its own SELECTs, and sends replay-safe commands plainly', async () => {
    const { h, writer, dbs } = host({ options: { dbMap: { 0: { db: 0 }, 1: { db: 1 } } } });
    const b = await run(h, [
      cmd('PING'),
      cmd('SET', 'a', '1'),
      cmd('SELECT', '1'),
      cmd('SET', 'b', '2'),
      cmd('REPLCONF', 'GETACK', '*'),
      cmd('SELECT', '0'),
      cmd('DEL', 'a'),
    ]);
    expect(writer.sent).toEqual([
      {
        kind: 'group',
        db: 0,
        slot: undefined,
        atomic: false,
        cmds: ['SET a 1', 'SELECT 1', 'SET b 2', 'SELECT 0', 'DEL a'],
      },
    ]);
    expect([...dbs].sort()).toEqual([0, 1]);
    expect(b.lastOffset).toBe(offset);
  });

  it('sends a group holding a command that is not replay-safe in MULTI/EXEC with its checkpoint, in db 0', async () => {
    const { h, writer } = host({ options: { dbMap: { 0: { db: 0 }, 2: { db: 2 } } } });
    await run(h, [cmd('SELECT', '2'), cmd('INCR', 'n'), cmd('SET', 'x', 'y')]);
    const g = writer.sent[0] as Extract<Sent, { kind: 'group' }>;
    expect(g.atomic).toBe(true);
    expect(g.db).toBe(2);
    expect(g.cmds).toEqual(['INCR n', 'SET x y', 'SELECT 0', `SET ckpt:0 ${offset}`]);
  });

  it('skips what the target already applied (its checkpoint says so) and keys under the reserved prefix', async () => {
    const { h, writer, warnings } = host();
    const first = offset + 1;
    h.alreadyApplied = (_d, off) => off <= first;
    await run(h, [cmd('SET', 'old', '1'), cmd('SET', '__ferry:mine', '1'), cmd('SET', 'new', '2')]);
    expect(writer.sent).toEqual([
      { kind: 'group', db: 0, slot: undefined, atomic: false, cmds: ['SET new 2'] },
    ]);
    expect(warnings.join('\n')).toMatch(/reserved prefix "__ferry:"/);
  });
});

describe('StreamBatch, cluster target', () => {
  it('groups commands by slot and splits a DEL or MSET over several slots into one per slot', async () => {
    const { h, writer, warnings } = host({ cluster: true });
    await run(h, [cmd('SET', 'a', '1'), cmd('MSET', 'a', '2', 'b', '3', '{a}x', '4'), cmd('DEL', 'a', 'b')]);
    const a = keySlot(Buffer.from('a'));
    const b = keySlot(Buffer.from('b'));
    const bySlot = new Map<number | undefined, string[]>();
    for (const s of writer.sent) if (s.kind === 'group') bySlot.set(s.slot, s.cmds);
    expect(bySlot.get(a)).toEqual(['SET a 1', 'MSET a 2 {a}x 4', 'DEL a']);
    expect(bySlot.get(b)).toEqual(['MSET b 3', 'DEL b']);
    expect(warnings).toEqual([]);
  });

  it('refuses a command whose keys span slots and cannot be split (CROSSSLOT), saying so', async () => {
    const { h, writer, warnings } = host({ cluster: true });
    await run(h, [cmd('SUNIONSTORE', 'dst', 'a', 'b'), cmd('SUNIONSTORE', '{t}d', '{t}a', '{t}b')]);
    expect(warnings.join('\n')).toMatch(/SUNIONSTORE.*spans several slots.*CROSSSLOT/);
    const groups = writer.sent.filter((s) => s.kind === 'group');
    expect(groups).toHaveLength(1);
    // not replay-safe: in MULTI/EXEC with the checkpoint of its slot
    expect(groups[0]).toMatchObject({ atomic: true, slot: keySlot(Buffer.from('t')) });
    expect((groups[0] as Extract<Sent, { kind: 'group' }>).cmds[0]).toBe('SUNIONSTORE {t}d {t}a {t}b');
  });

  it('keeps a source transaction in one slot atomic, and applies one across slots command by command', async () => {
    const one = host({ cluster: true });
    await run(one.h, [cmd('MULTI'), cmd('INCR', '{u}a'), cmd('INCR', '{u}b'), cmd('EXEC')]);
    expect(one.writer.sent).toHaveLength(1);
    const g = one.writer.sent[0] as Extract<Sent, { kind: 'group' }>;
    expect(g.slot).toBe(keySlot(Buffer.from('u')));
    expect(g.atomic).toBe(true);
    expect(g.cmds.slice(0, 2)).toEqual(['INCR {u}a', 'INCR {u}b']);
    expect(one.warnings).toEqual([]);

    const two = host({ cluster: true });
    const b = new StreamBatch(two.h);
    b.add(cmd('MULTI'));
    b.add(cmd('INCR', 'a'));
    expect(b.inTransaction).toBe(true);
    b.add(cmd('INCR', 'b'));
    b.add(cmd('EXEC'));
    await b.send();
    expect(two.warnings.join('\n')).toMatch(/MULTI\/EXEC\) spans 2 slots.*one by one/);
    expect(two.writer.sent.filter((s) => s.kind === 'group')).toHaveLength(2);

    const discarded = host({ cluster: true });
    await run(discarded.h, [cmd('MULTI'), cmd('SET', 'a', '1'), cmd('DISCARD'), cmd('SET', 'b', '2')]);
    expect(discarded.writer.sent.flatMap((s) => (s.kind === 'group' ? s.cmds : []))).toEqual(['SET b 2']);
  });

  it("judges a transaction's slots by the keys' names on the target (a transform or a prefix moves them)", async () => {
    // a:1 and a:2 are in different slots; tagged {a}:1 and {a}:2 they share one
    const tag = {
      ids: ['tag'],
      key: (k: Buffer): Buffer => Buffer.from(k.toString().replace(/^([^:]+):/, '{$1}:')),
    };
    const writer = host({ cluster: true });
    const h = {
      ...writer.h,
      context: {
        ...writer.h.context,
        mapper: new KeyMapper(undefined, '', {}, true, tag),
      },
    };
    await run(h, [cmd('MULTI'), cmd('INCR', 'a:1'), cmd('INCR', 'a:2'), cmd('EXEC')]);
    expect(writer.warnings).toEqual([]);
    const g = writer.writer.sent[0] as Extract<Sent, { kind: 'group' }>;
    expect(g.atomic).toBe(true);
    expect(g.slot).toBe(keySlot(Buffer.from('{a}:1')));
    expect(g.cmds.slice(0, 2)).toEqual(['INCR {a}:1', 'INCR {a}:2']);
  });

  it('keeps FLUSHALL in its place: what came before is sent before it, what came after in new groups after it', async () => {
    const { h, writer } = host({ cluster: true });
    let began = 0;
    let ended = 0;
    h.context.targetFlush = {
      begin: () => {
        began++;
      },
      end: async () => {
        ended++;
      },
    };
    await run(h, [cmd('SET', 'a', '1'), cmd('FLUSHALL'), cmd('SET', 'a', '2')]);
    expect(writer.sent.map((s) => (s.kind === 'group' ? s.cmds.join(';') : `broadcast ${s.cmd}`))).toEqual([
      'SET a 1',
      'broadcast FLUSHALL',
      'SET a 2',
    ]);
    expect([began, ended]).toEqual([1, 1]);
  });

  it('does not apply FLUSHDB of a source db that shares its target db with others', async () => {
    const { h, writer, warnings } = host({ options: { dbMap: { 0: { db: 0 }, 1: { db: 0 } } } });
    await run(h, [cmd('SELECT', '1'), cmd('FLUSHDB'), cmd('SET', 'k', 'v')]);
    expect(warnings.join('\n')).toMatch(
      /FLUSHDB on the source was not applied: source db 1 shares its target db/,
    );
    expect(writer.sent.flatMap((s) => (s.kind === 'group' ? s.cmds : []))).toEqual(['SET k v']);
  });
});

describe('StreamBatch, proxy target', () => {
  it('reports what twemproxy refuses instead of sending it, and sends UNLINK as DEL', async () => {
    const { h, writer, unsupported } = host({ proxy: 'twemproxy' });
    await run(h, [
      cmd('SET', 'a', '1'),
      cmd('RENAME', 'a', 'b'),
      cmd('UNLINK', 'a'),
      cmd('SUNIONSTORE', 'd', 'a', 'b'),
    ]);
    expect(unsupported.join('\n')).toMatch(/RENAME.*twemproxy does not support RENAME/);
    expect(unsupported.join('\n')).toMatch(/SUNIONSTORE.*may place on different servers/);
    expect(writer.sent.flatMap((s) => (s.kind === 'group' ? s.cmds : []))).toEqual(['SET a 1', 'DEL a']);
  });

  it('reports what codis-proxy refuses (MULTI, FLUSHALL) without failing the batch', async () => {
    const { h, writer, unsupported } = host({ proxy: 'codis' });
    await run(h, [cmd('SET', 'a', '1'), cmd('FLUSHALL'), cmd('SET', 'b', '2')]);
    expect(unsupported.join('\n')).toMatch(/codis-proxy does not allow FLUSHALL/);
    expect(writer.sent.flatMap((s) => (s.kind === 'group' ? s.cmds : []))).toEqual(['SET a 1', 'SET b 2']);
  });
});
