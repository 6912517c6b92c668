import type { Task } from '@ferry/core';
import {
  compareDeployments,
  formatDifferences,
  populate,
  type RedisServer,
  serverScope,
  waitFor,
  writeLoad,
} from '@ferry/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { endpointOf, engine, ferryKeys, record, spec, untilSynced } from './helpers.js';

const servers = serverScope();
afterAll(() => servers.stop());
const server = servers.redis;

/** Drops Ferry's replication connection on the source, as a network cut or a source-side kill would. */
async function killReplicaLink(source: RedisServer): Promise<number> {
  return Number(await source.command('CLIENT', 'KILL', 'TYPE', 'replica'));
}

/** Lists that the load pushes to: a duplicated replay would make them longer on the target. */
async function listLengths(s: RedisServer, dbs: number[]): Promise<Record<string, number>> {
  const c = s.client();
  const out: Record<string, number> = {};
  for (const db of dbs) {
    await c.select(db);
    for (const k of await c.keys('load:*list*')) out[`${db}:${k}`] = await c.llen(k);
  }
  c.disconnect();
  return out;
}

/** A source whose (diskless) snapshot takes 200 µs a key: a cut lands inside the transfer. */
function slowSource(): Promise<RedisServer> {
  return server({
    label: 'source',
    config: { 'rdb-key-save-delay': 200, 'repl-diskless-sync': 'yes', 'repl-diskless-sync-delay': 0 },
  });
}

/** Waits until `keys` keys of the snapshot are written, lets `between` act, cuts the link once, then finishes the task. */
async function cutSnapshotOnce(
  source: RedisServer,
  task: Task,
  running: Promise<void>,
  keys: number,
  between: () => Promise<void> = async () => undefined,
): Promise<void> {
  await waitFor(async () => (task.metrics()[0]?.keys ?? 0) > keys, {
    what: 'part of the snapshot to be written',
    timeoutMs: 30_000,
  });
  await between();
  expect(await killReplicaLink(source)).toBe(1);
  await source.command('CONFIG', 'SET', 'rdb-key-save-delay', '0');
  await untilSynced(task);
  await task.complete();
  await running;
}

describe('faults', () => {
  it('survives the source connection dropped during the snapshot and during streaming', async () => {
    // the source takes 100 µs per key to write its (diskless) snapshot: the cut lands inside the transfer
    const source = await server({
      label: 'source',
      config: { 'rdb-key-save-delay': 100, 'repl-diskless-sync': 'yes', 'repl-diskless-sync-delay': 0 },
    });
    const target = await server({ label: 'target' });
    const src = source.client();
    await populate(src, { dbs: [0, 1], randomKeys: 30_000 });
    const task = engine().createTask(spec(source, endpointOf(target)));
    const log = record(task);
    const load = writeLoad(source.client(), { opsPerSec: 1000, durationMs: 12_000, dbs: [0, 1] });
    const running = task.start();
    await waitFor(
      async () => task.metrics()[0]?.phase === 'snapshot' && (task.metrics()[0]?.keys ?? 0) > 5000,
      { what: 'the migration to get there', timeoutMs: 30_000 },
    );
    expect(await killReplicaLink(source)).toBe(1);
    await source.command('CONFIG', 'SET', 'rdb-key-save-delay', '0');
    await waitFor(async () => task.state === 'incremental_sync', {
      what: 'the migration to get there',
      timeoutMs: 60_000,
    });
    await new Promise((r) => setTimeout(r, 1500));
    expect(await killReplicaLink(source)).toBe(1);
    await load;
    await untilSynced(task);
    await task.complete();
    await running;
    // full sync, full sync again (cut before the snapshot was loaded), then a partial resync
    expect(log.starts.map((s) => s.mode)).toEqual(['full', 'full', 'continue']);
    expect(log.errors.every((e) => e.retrying)).toBe(true);
    const diffs = await compareDeployments(source, target, { dbs: [0, 1] });
    expect(formatDifferences(diffs), log.warnings.join('\n')).toBe('');
    expect(await listLengths(target, [0, 1])).toEqual(await listLengths(source, [0, 1]));
    expect(await ferryKeys(target)).toEqual([]);
    src.disconnect();
  });

  it('a snapshot written again leaves nothing of the cut one that the source deleted in between', async () => {
    // Redis's own replica empties itself before it loads a new RDB. Ferry's retry after a cut
    // snapshot is a new full sync: a key the first pass wrote and the source deleted before the
    // second fork is in no snapshot, and without the same emptying it stayed on the target (where a
    // later APPEND grew it: the faults test above caught that once in a while).
    const source = await slowSource();
    const target = await server({ label: 'target' });
    const src = source.client();
    const tgt = target.client();
    for (const db of [0, 1]) {
      await src.select(db);
      const p = src.pipeline();
      for (let i = 0; i < 8000; i++) p.set(`k:${db}:${i}`, `v${i}`);
      await p.exec();
    }
    const task = engine().createTask(spec(source, endpointOf(target)));
    const log = record(task);
    let gone: string[] = [];
    await cutSnapshotOnce(source, task, task.start(), 3000, async () => {
      // keys the first pass has written: deleted on the source, one of them appended to afresh
      await tgt.select(0);
      const [, written] = await tgt.scan(0, 'MATCH', 'k:0:*', 'COUNT', 2000);
      expect(written.length).toBeGreaterThan(100);
      gone = written.slice(0, 100);
      await src.select(0);
      await src.del(...gone);
      await src.append(gone[0] as string, 'fresh');
    });
    expect(log.starts.map((s) => s.mode)).toEqual(['full', 'full']);
    expect(
      log.warnings.some((w) => /emptied first/.test(w)),
      log.warnings.join('\n'),
    ).toBe(true);
    expect(await tgt.get(gone[0] as string)).toBe('fresh');
    expect(await tgt.exists(...gone.slice(1))).toBe(0);
    const diffs = await compareDeployments(source, target, { dbs: [0, 1] });
    expect(formatDifferences(diffs), log.warnings.join('\n')).toBe('');
    src.disconnect();
    tgt.disconnect();
  });

  it('a snapshot written again onto a target that held other keys keeps them, and says what that risks', async () => {
    const source = await slowSource();
    const target = await server({ label: 'target' });
    const src = source.client();
    const tgt = target.client();
    const p = src.pipeline();
    for (let i = 0; i < 8000; i++) p.set(`k:${i}`, `v${i}`);
    await p.exec();
    await tgt.set('theirs', 'the user keeps this');
    const task = engine().createTask(spec(source, endpointOf(target), { options: { conflict: 'replace' } }));
    const log = record(task);
    await cutSnapshotOnce(source, task, task.start(), 2000);
    expect(log.starts.map((s) => s.mode)).toEqual(['full', 'full']);
    expect(await tgt.get('theirs')).toBe('the user keeps this');
    expect(
      log.warnings.some((w) => /held keys when the task started/.test(w)),
      log.warnings.join('\n'),
    ).toBe(true);
    expect(await tgt.dbsize()).toBe(8001);
    src.disconnect();
    tgt.disconnect();
  });

  it('survives the target restarting while streaming, without applying a command twice', async () => {
    const source = await server({ label: 'source' });
    const target = await server({ label: 'target', config: { appendonly: 'yes', appendfsync: 'always' } });
    const src = source.client();
    await populate(src, { randomKeys: 5000 });
    const task = engine().createTask(spec(source, endpointOf(target)));
    const log = record(task);
    const load = writeLoad(source.client(), {
      opsPerSec: 2000,
      durationMs: 8000,
      mix: { lpush: 5, incr: 5, append: 2, set: 2, rpop: 1 },
    });
    const running = task.start();
    await waitFor(async () => task.state === 'incremental_sync', {
      what: 'the migration to get there',
      timeoutMs: 60_000,
    });
    await new Promise((r) => setTimeout(r, 1500));
    await target.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 500));
    await target.restart();
    await load;
    await untilSynced(task);
    await task.complete();
    await running;
    // one full sync; every later pass (one per retry while the target was down) resumed
    const [firstMode, ...later] = log.starts.map((s) => s.mode);
    expect(firstMode).toBe('full');
    expect(later.length).toBeGreaterThan(0);
    expect(later.every((m) => m === 'continue')).toBe(true);
    const diffs = await compareDeployments(source, target, { dbs: [0] });
    expect(formatDifferences(diffs), log.warnings.join('\n')).toBe('');
    expect(await listLengths(target, [0])).toEqual(await listLengths(source, [0]));
    src.disconnect();
  });
});
