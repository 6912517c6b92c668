import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dumpPayload, RdbParser } from '@ferry/rdb';
import { connect, type RespConnection } from '@ferry/resp';
import {
  allocatePort,
  compareDeployments,
  formatDifferences,
  populate,
  type RedisServer,
  releasePort,
  selfSignedCertificate,
  serverScope,
  tlsServerConfig,
  waitFor,
  writeLoad,
} from '@ferry/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { ReplicaLink, type StreamCommand } from '../src/index.js';

const servers = serverScope();
const links: ReplicaLink[] = [];
afterAll(async () => {
  for (const l of links) {
    l.close();
    l.cleanup();
  }
  await servers.stop();
});
const server = servers.redis;
function link(
  source: RedisServer,
  extra: Partial<ConstructorParameters<typeof ReplicaLink>[0]> = {},
): ReplicaLink {
  const l = new ReplicaLink({
    host: source.host,
    port: source.port,
    ...(source.password ? { password: source.password } : {}),
    spoolDir: mkdtempSync(join(tmpdir(), 'ferry-spool-')),
    ...extra,
  });
  links.push(l);
  return l;
}
async function masterOffset(s: RedisServer): Promise<number> {
  return Number((await s.info('replication')).master_repl_offset);
}

/** Loads a snapshot into a target with RESTORE … ABSTTL, db by db; returns how many keys. */
async function restoreSnapshot(l: ReplicaLink, target: RespConnection): Promise<number> {
  const parser = new RdbParser(l.snapshot());
  let db = -1;
  let keys = 0;
  for await (const batch of parser.batches()) {
    for (const e of batch) {
      if (e.kind !== 'key') continue;
      if (e.db !== db) {
        await target.send(['SELECT', e.db]);
        db = e.db;
      }
      const raw = await e.raw();
      if (!raw || e.empty) throw new Error(`unexpected big or empty key ${e.key}`);
      await target.send([
        'RESTORE',
        e.key,
        e.expireAtMs ?? 0,
        dumpPayload(e.rdbType, raw, parser.version),
        'REPLACE',
        ...(e.expireAtMs ? ['ABSTTL'] : []),
      ]);
      keys++;
    }
  }
  await target.send(['SELECT', 0]);
  return keys;
}

/** Applies one stream command (PING and REPLCONF are the link's own business). */
async function apply(c: StreamCommand, target: RespConnection): Promise<void> {
  const name = c.argv[0]?.toString('latin1').toUpperCase();
  if (name !== 'PING' && name !== 'REPLCONF') await target.send(c.argv);
}

/** Applies commands while `go()` holds; returns the offset of the last one applied. */
async function applyWhile(
  commands: AsyncGenerator<StreamCommand>,
  target: RespConnection,
  go: () => boolean,
  seen: StreamCommand[],
): Promise<number> {
  let last = 0;
  while (go()) {
    const next = await commands.next();
    if (next.done) break;
    await apply(next.value, target);
    seen.push(next.value);
    last = next.value.offset;
  }
  return last;
}

/** Applies commands until the source's master_repl_offset is reached; returns it. */
async function applyToOffset(
  commands: AsyncGenerator<StreamCommand>,
  target: RespConnection,
  source: RedisServer,
  seen: StreamCommand[],
): Promise<number> {
  let last = 0;
  for (;;) {
    const goal = Number((await source.info('replication')).master_repl_offset);
    while (last < goal) {
      const next = await commands.next();
      if (next.done) return last;
      await apply(next.value, target);
      seen.push(next.value);
      last = next.value.offset;
    }
    if (last === Number((await source.info('replication')).master_repl_offset)) return last;
  }
}

describe('ReplicaLink against a real server', () => {
  it.each([
    ['disk', 'no'],
    ['diskless', 'yes'],
  ])('full sync (%s payload): the snapshot equals the source, key for key', async (_kind, diskless) => {
    const source = await server({ config: { 'repl-diskless-sync': diskless } });
    await populate(source.client(), { dbs: [0, 1, 2], randomKeys: 2000 });
    const states: string[] = [];
    const l = link(source, { onState: (_f, to) => states.push(to) });
    const start = await l.start();
    expect(start.mode).toBe('full');
    if (start.mode !== 'full') return;
    expect(start.diskless).toBe(diskless === 'yes');
    expect(start.replid).toMatch(/^[0-9a-f]{40}$/);
    const dbs = new Map([0, 1, 2].map((db) => [db, source.client({ db })]));
    const parser = new RdbParser(l.snapshot());
    let keys = 0;
    for await (const batch of parser.batches()) {
      for (const e of batch) {
        if (e.kind !== 'key') continue;
        const raw = await e.raw();
        const dumped = await dbs.get(e.db)?.dumpBuffer(e.key);
        expect(raw && dumpPayload(e.rdbType, raw, parser.version).toString('hex')).toBe(
          dumped?.toString('hex'),
        );
        keys++;
      }
    }
    const sizes = await Promise.all([...dbs.values()].map((c) => c.dbsize()));
    expect(keys).toBe(sizes.reduce((a, b) => a + b, 0));
    expect(states).toEqual(['handshake', 'waiting-bgsave', 'receiving-rdb', 'streaming']);
    // the snapshot spool file is gone once read
    expect(readdirSync(l.spoolDir).filter((f) => f.startsWith('snapshot'))).toEqual([]);
  });

  it('replicates over TLS: full sync, then the stream, offsets and acks included', async () => {
    const tls = selfSignedCertificate();
    const tlsPort = await allocatePort();
    const source = await server({
      config: { ...tlsServerConfig(tlsPort, tls), 'repl-diskless-sync': 'yes' },
    });
    releasePort(tlsPort);
    await populate(source.client(), { randomKeys: 3000 });
    const l = link(source, { port: tlsPort, tls: { ca: tls.cert, servername: 'localhost' } });
    const start = await l.start();
    expect(start.mode).toBe('full');
    const target = await server();
    const t = await connect({ host: target.host, port: target.port });
    try {
      expect(await restoreSnapshot(l, t)).toBe(await source.client().dbsize());
      const load = await writeLoad(source.client(), { opsPerSec: 5000, durationMs: 1500, maxInFlight: 200 });
      expect(load.errors).toBe(0);
      const seen: StreamCommand[] = [];
      expect(await applyToOffset(l.commands(), t, source, seen)).toBe(await masterOffset(source));
      expect(seen.length).toBeGreaterThan(1000);
      // our REPLCONF ACKs reach the source over the same TLS link
      expect(await source.client().call('WAIT', '1', '5000')).toBe(1);
      const diffs = await compareDeployments(source, target);
      expect(diffs, formatDifferences(diffs)).toEqual([]);
    } finally {
      t.destroy();
    }
    // and a plaintext client is not taken for a replica on the TLS port
    const plain = link(source, { port: tlsPort, connectTimeoutMs: 3000 });
    await expect(plain.start()).rejects.toMatchObject({
      code: 'CONNECTION_CLOSED',
      message: expect.stringContaining('is this a TLS port?'),
    });
  });

  it('tracks the stream offset exactly: after 100 000 mixed writes it equals master_repl_offset', async () => {
    const source = await server();
    const l = link(source);
    await l.start();
    for await (const _ of l.snapshot()) {
      // drain
    }
    // at least 100 000 writes whatever this machine's speed (a fixed duration gave fewer on a busy one)
    let ops = 0;
    while (ops < 100_000) {
      const load = await writeLoad(source.client(), {
        opsPerSec: 50_000,
        durationMs: 2_500,
        maxInFlight: 2000,
      });
      expect(load.errors).toBe(0);
      ops += load.ops;
    }
    const goal = await masterOffset(source);
    await waitFor(async () => l.offset === (await masterOffset(source)), {
      what: 'the link to reach master_repl_offset',
      timeoutMs: 30_000,
    });
    const commands = l.commands();
    let last = 0;
    let count = 0;
    while (last < goal) {
      const next = await commands.next();
      if (next.done) break;
      last = next.value.offset;
      count++;
    }
    expect(last).toBe(goal);
    expect(count).toBeGreaterThanOrEqual(100_000);
    // the source sees our acknowledgement: WAIT returns once the replica acked
    expect(await source.client().call('WAIT', '1', '5000')).toBe(1);
  });

  it('resumes a cut link with +CONTINUE, losing and doubling nothing', async () => {
    const source = await server({ config: { 'repl-backlog-size': '64mb' } });
    const target = await server();
    await populate(source.client(), { dbs: [0, 1], randomKeys: 500 });
    const to = await connect({ host: target.host, port: target.port });
    const first = link(source);
    const start = await first.start();
    if (start.mode !== 'full') throw new Error('expected a full sync');
    await restoreSnapshot(first, to);
    const loading = writeLoad(source.client(), { opsPerSec: 4000, durationMs: 4000, dbs: [0, 1] });
    const seen: StreamCommand[] = [];
    const commands = first.commands();
    // apply a while, then cut the link from the source side mid-stream
    const cutAt = Date.now() + 1500;
    const applied = await applyWhile(commands, to, () => Date.now() < cutAt, seen);
    expect(applied).toBeGreaterThan(start.offset);
    await source.command('CLIENT', 'KILL', 'TYPE', 'replica');
    await waitFor(async () => first.state === 'closed', { what: 'the first link to notice the cut' });
    const resumed = link(source, { resume: { replid: start.replid, offset: applied } });
    const again = await resumed.start();
    expect(again.mode).toBe('continue');
    await loading;
    const last = await applyToOffset(resumed.commands(), to, source, seen);
    expect(last).toBe(await masterOffset(source));
    // offsets strictly increase across the cut: nothing applied twice
    for (let i = 1; i < seen.length; i++)
      expect((seen[i] as StreamCommand).offset).toBeGreaterThan((seen[i - 1] as StreamCommand).offset);
    const diffs = await compareDeployments(source, target, { dbs: [0, 1] });
    expect(diffs, formatDifferences(diffs)).toEqual([]);
    to.destroy();
  });

  it('says clearly when the source refuses to sync', async () => {
    const renamed = await server({ config: { 'rename-command': ['PSYNC ""', 'SYNC ""'] } });
    await expect(link(renamed).start()).rejects.toMatchObject({
      code: 'SYNC_NOT_PERMITTED',
      message: expect.stringContaining('both PSYNC and SYNC'),
    });
    const acl = await server({
      aclUsers: [{ name: 'nosync', password: 'p', rules: '~* &* +@all -psync -sync' }],
    });
    await expect(link(acl, { username: 'nosync', password: 'p' }).start()).rejects.toMatchObject({
      code: 'SYNC_NOT_PERMITTED',
      message: expect.stringContaining('NOPERM'),
    });
    const secured = await server({ password: 'right' });
    await expect(link(secured, { password: 'wrong' }).start()).rejects.toMatchObject({ code: 'AUTH_FAILED' });
    await expect(link(secured, { password: undefined }).start()).rejects.toMatchObject({
      code: 'AUTH_FAILED',
      message: expect.stringContaining('requires a password'),
    });
  });

  it('falls back to SYNC when PSYNC is refused but SYNC is not', async () => {
    const source = await server({ config: { 'rename-command': 'PSYNC ""' } });
    await populate(source.client(), { catalogue: false, randomKeys: 300 });
    const l = link(source);
    const start = await l.start();
    expect(start.mode).toBe('sync');
    let keys = 0;
    for await (const batch of new RdbParser(l.snapshot()).batches())
      keys += batch.filter((e) => e.kind === 'key').length;
    expect(keys).toBe(300);
    await source.client().set('after-sync', '1');
    const commands = l.commands();
    let found = false;
    while (!found) {
      const next = await commands.next();
      if (next.done) break;
      found = next.value.argv.some((a) => a.toString() === 'after-sync');
    }
    expect(found).toBe(true);
  });

  it('spools whatever the consumer’s pace: a source with a tiny replica output buffer keeps us', async () => {
    // 1 MB hard limit: at 40 000 SETs/s a replica not reading for under a second would be dropped
    const source = await server({ config: { 'client-output-buffer-limit': 'replica 1mb 512kb 5' } });
    const l = link(source, { segmentBytes: 1 << 20 });
    await l.start();
    for await (const _ of l.snapshot()) {
      // drain the (empty) snapshot; the stream is not read at all during the load
    }
    await writeLoad(source.client(), { opsPerSec: 40_000, durationMs: 2_000, mix: { set: 1 } });
    const goal = await masterOffset(source);
    await waitFor(async () => l.offset === goal, { what: 'the spool to hold the whole stream' }).catch(
      (e: unknown) => {
        throw new Error(`link ${l.state} at ${l.offset}, source at ${goal}:\n${source.logTail(5)}`, {
          cause: e,
        });
      },
    );
    expect(l.state).toBe('streaming');
    expect((await source.info('replication')).connected_slaves).toBe('1');
    const spooled = l.diskUsage();
    expect(spooled).toBeGreaterThan(2 << 20);
    // reading it all removes the rotated segments
    const commands = l.commands();
    let last = 0;
    while (last < goal) {
      const next = await commands.next();
      if (next.done) break;
      last = next.value.offset;
    }
    expect(last).toBe(goal);
    expect(l.diskUsage()).toBeLessThan(spooled / 2);
  });

  it('reports a full resync when the asked offset is gone', async () => {
    const source = await server();
    const l = link(source, { resume: { replid: 'f'.repeat(40), offset: 12345 } });
    const start = await l.start();
    expect(start.mode).toBe('full');
    expect(start.mode === 'full' && start.resumeRefused).toContain('no longer has offset 12346');
  });
});
