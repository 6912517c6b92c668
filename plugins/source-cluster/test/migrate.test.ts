import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import {
  compareDeployments,
  formatDifferences,
  loadAcrossSnapshot,
  populate,
  type RedisCluster,
  record,
  resolveBinary,
  scanKeys,
  serverScope,
  untilSynced,
  waitFor,
  writeLoad,
} from '@ferry/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterSpec, engine, seedOf } from './helpers.js';

const run = promisify(execFile);
const servers = serverScope();
afterAll(() => servers.stop());

let source: RedisCluster;
beforeAll(async () => {
  source = await servers.cluster({ masters: 3, replicasPerMaster: 1 });
  const c = source.client();
  await populate(c, { randomKeys: 3000, bigKeys: { elements: 200_000, types: ['zset'] } });
  c.disconnect();
  // every replica in sync with its primary (else Ferry rightly reads that shard from the primary)
  await waitFor(
    async () => {
      for (const r of (await source.topology()).filter((n) => n.role === 'replica')) {
        const info = await r.server.info('replication');
        if (info.master_link_status !== 'up' || info.master_sync_in_progress !== '0') return false;
      }
      return true;
    },
    { timeoutMs: 60_000, what: 'the source replicas to be in sync' },
  );
}, 120_000);

describe('cluster source', () => {
  it('cluster (3 masters + replicas) → standalone under write load', async () => {
    const target = await servers.redis({ label: 'target' });
    const task = engine().createTask(clusterSpec(source, { endpoint: target.endpoint }));
    const log = record(task);
    const load = loadAcrossSnapshot(source.client(), task, { opsPerSec: 1500, prefix: 'l1:' });
    const running = task.start();
    const done = await load.done;
    expect(done.spannedSnapshot).toBe(true);
    expect(done.errors).toBe(0);
    await untilSynced(task);
    expect(task.metrics().length).toBe(3);
    // the links are on the replicas: each primary still has only its own replica attached
    for (const m of (await source.topology()).filter((n) => n.role === 'master'))
      expect(Number((await m.server.info('replication')).connected_slaves), log.warnings.join('\n')).toBe(1);
    await task.complete();
    await running;
    expect(task.state).toBe('succeeded');
    expect(log.starts.map((s) => s.mode)).toEqual(['full', 'full', 'full']);
    const diffs = await compareDeployments(source, target, { dbs: [0] });
    expect(formatDifferences(diffs), log.warnings.join('\n')).toBe('');
  });

  it('cluster (3 masters) → cluster (4 masters) under write load, then a slot migration on the source while streaming', async () => {
    const target = await servers.cluster({ masters: 4 });
    const task = engine().createTask(clusterSpec(source, { endpoint: seedOf(target), cluster: true }));
    const log = record(task);
    const load = loadAcrossSnapshot(source.client(), task, { opsPerSec: 1500, prefix: 'l2:' });
    const running = task.start();
    expect((await load.done).spannedSnapshot).toBe(true);
    await untilSynced(task);
    // reshard 300 slots from one source master to another while the source is written to
    const topo = await source.topology();
    const masters = topo.filter((n) => n.role === 'master');
    const [from, to] = masters as [(typeof masters)[0], (typeof masters)[0]];
    const stop = new AbortController();
    const more = writeLoad(source.client(), {
      opsPerSec: 1000,
      durationMs: 60_000,
      prefix: 'l2b:',
      signal: stop.signal,
    });
    await run(resolveBinary('redis-cli'), [
      '--cluster',
      'reshard',
      `${from.server.host}:${from.server.port}`,
      '--cluster-from',
      from.id,
      '--cluster-to',
      to.id,
      '--cluster-slots',
      '300',
      '--cluster-yes',
    ]);
    stop.abort();
    expect((await more).errors).toBe(0);
    // reported while moving, or as moved once the next topology read sees the new owner
    await waitFor(
      async () => log.topology.some((t) => /^slots-moving: .* (moving|moved) from shard/.test(t)),
      {
        timeoutMs: 10_000,
        what: 'a slots-moving event',
      },
    );
    await untilSynced(task);
    await task.complete();
    await running;
    expect(task.state).toBe('succeeded');
    const diffs = await compareDeployments(source, target, { dbs: [0] });
    expect(formatDifferences(diffs), [...log.topology, ...log.warnings].join('\n')).toBe('');
    const dropped = task.metrics().reduce((n, m) => n + (m.migratedAway ?? 0), 0);
    expect(dropped, 'the migration DELs of moved keys were not applied').toBeGreaterThan(0);
  });

  it('cluster (3 masters) → cluster (4 masters) with the snapshot of each shard written on a thread of its own, under write load', async () => {
    const target = await servers.cluster({ masters: 4 });
    const task = engine().createTask(
      clusterSpec(
        source,
        { endpoint: seedOf(target), cluster: true },
        { options: { snapshotThreads: 'always' } },
      ),
    );
    const log = record(task);
    const load = loadAcrossSnapshot(source.client(), task, { opsPerSec: 1500, prefix: 'l4:' });
    const running = task.start();
    expect((await load.done).spannedSnapshot).toBe(true);
    await untilSynced(task);
    await task.complete();
    await running;
    expect(task.state).toBe('succeeded');
    const shards = task.metrics();
    expect(shards.map((m) => m.snapshotThread)).toEqual([true, true, true]);
    expect(shards.every((m) => m.keys > 0)).toBe(true);
    const diffs = await compareDeployments(source, target, { dbs: [0] });
    expect(formatDifferences(diffs), [...log.topology, ...log.warnings].join('\n')).toBe('');
  });

  it('snapshot threads hold on pause and follow a changed rate limit', async () => {
    const target = await servers.redis({ label: 'target-threads-pause' });
    const task = engine().createTask(
      clusterSpec(
        source,
        { endpoint: target.endpoint },
        { options: { snapshotThreads: 'always', rateLimit: { keysPerSec: 1500 } } },
      ),
    );
    const log = record(task);
    const running = task.start();
    const keys = (): number => task.metrics().reduce((n, m) => n + m.keys, 0);
    await waitFor(async () => keys() > 600, { what: 'the threads to write keys', timeoutMs: 30_000 });
    task.pause();
    await new Promise((r) => setTimeout(r, 600)); // what was in flight lands, and the metrics with it
    const held = keys();
    await new Promise((r) => setTimeout(r, 1500));
    expect(keys(), 'keys written while paused').toBe(held);
    task.resume();
    await new Promise((r) => setTimeout(r, 1000));
    // 1500 keys/s shared by three threads: about 1500 more in that second, far from all of them
    expect(keys()).toBeGreaterThan(held);
    expect(keys() - held).toBeLessThan(4000);
    task.setRateLimit({});
    await untilSynced(task);
    await task.complete();
    await running;
    expect(task.metrics().every((m) => m.snapshotThread)).toBe(true);
    const diffs = await compareDeployments(source, target, { dbs: [0] });
    expect(formatDifferences(diffs), log.warnings.join('\n')).toBe('');
  });

  it('follows a failover (CLUSTER FAILOVER) with +CONTINUE, no resync, no difference', async () => {
    const target = await servers.redis({ label: 'target-fo' });
    const task = engine().createTask(
      clusterSpec(source, { endpoint: target.endpoint }, { sourceOptions: { preferReplica: false } }),
    );
    const log = record(task);
    const stop = new AbortController();
    const load = writeLoad(source.client(), {
      opsPerSec: 1000,
      durationMs: 120_000,
      prefix: 'l3:',
      signal: stop.signal,
    });
    const running = task.start();
    await untilSynced(task, 500);
    const replica = (await source.topology()).find((n) => n.role === 'replica');
    if (!replica) throw new Error('no replica');
    await replica.server.client().cluster('FAILOVER');
    await waitFor(async () => log.topology.some((t) => t.startsWith('failover')), {
      timeoutMs: 20_000,
      what: 'the failover to be seen',
    });
    await waitFor(async () => log.starts.length >= 4, { timeoutMs: 20_000, what: 'the shard to reconnect' });
    await new Promise((r) => setTimeout(r, 1000));
    stop.abort();
    expect((await load).errors).toBe(0);
    await untilSynced(task);
    await task.complete();
    await running;
    // the link moved to the promoted replica and continued the same history there
    const moved = log.topology.find((t) => t.startsWith('failover'));
    expect(moved).toContain(`reading from ${replica.server.host}:${replica.server.port} now`);
    const later = log.starts.slice(3);
    expect(later.length).toBeGreaterThan(0);
    expect(
      later.map((s) => s.mode),
      JSON.stringify(log.errors),
    ).toEqual(later.map(() => 'continue'));
    expect(new Set(later.map((s) => s.shardId)).size).toBe(1);
    const diffs = await compareDeployments(source, target, { dbs: [0] });
    expect(formatDifferences(diffs), [...log.topology, ...log.warnings].join('\n')).toBe('');
  });
  it.each([
    ['on the task thread', 'never'],
    ['on snapshot threads', 'always'],
  ] as const)(
    'a shard whose snapshot is cut writes it again without leaving what its source deleted, and the other shards keep theirs (%s)',
    async (_, threads) => {
      const target = await servers.redis({ label: 'target-resnap' });
      const master = (await source.topology()).find((n) => n.role === 'master');
      if (!master) throw new Error('no master');
      const m = master.server.client();
      // keys of one shard only (a hash tag of its slots), many enough for a slow snapshot there
      const [a] = master.slots[0] as [number, number];
      let tag = '';
      for (let i = 0; ; i++)
        if (Number(await m.cluster('KEYSLOT', `t${i}`)) === a) {
          tag = `t${i}`;
          break;
        }
      const p = m.pipeline();
      for (let i = 0; i < 6000; i++) p.set(`{${tag}}:r:${i}`, `v${i}`);
      await p.exec();
      await master.server.command('CONFIG', 'SET', 'rdb-key-save-delay', '1000');
      const task = engine().createTask(
        clusterSpec(
          source,
          { endpoint: target.endpoint },
          { sourceOptions: { preferReplica: false }, options: { snapshotThreads: threads } },
        ),
      );
      const log = record(task);
      const running = task.start();
      const t = target.client();
      const written = (): Promise<string[]> => scanKeys(t, `{${tag}}:r:*`);
      await waitFor(async () => (await written()).length > 1000, {
        what: 'part of the slow shard to be written',
        timeoutMs: 60_000,
      });
      const gone = (await written()).slice(0, 100);
      await m.del(...gone);
      // every replica link of that master is cut (Ferry's and the cluster replica's, which resyncs)
      await master.server.command('CONFIG', 'SET', 'rdb-key-save-delay', '0');
      await master.server.command('CLIENT', 'KILL', 'TYPE', 'replica');
      await untilSynced(task);
      await task.complete();
      await running;
      m.disconnect();
      expect(log.starts.filter((s) => s.mode === 'full').length).toBe(4);
      expect(await t.exists(...gone)).toBe(0);
      expect(log.warnings.some((w) => /key\(s\) of its slots removed from the target first/.test(w))).toBe(
        true,
      );
      t.disconnect();
      const diffs = await compareDeployments(source, target, { dbs: [0] });
      expect(formatDifferences(diffs), log.warnings.join('\n')).toBe('');
    },
  );
});
