/**
 * A target that loses the task's data while it streams: Ferry must not stream on as if nothing
 * happened (and then say "done" with most keys missing), but notice it, say so, and write the
 * snapshot again.
 */
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
import { endpointOf, engine, record, spec, untilSynced } from './helpers.js';

const servers = serverScope();
afterAll(() => servers.stop());
const server = servers.redis;

/**
 * After the loss: the snapshot is written again (a second full sync), the task warns why, catches
 * up once the load ends, and completes with its check against both servers passed.
 */
async function rewrittenAndDone(
  task: Task,
  log: ReturnType<typeof record>,
  running: Promise<void>,
  load: Promise<unknown>,
): Promise<void> {
  await waitFor(async () => log.starts.filter((s) => s.mode === 'full').length >= 2, {
    what: 'the snapshot written again',
    timeoutMs: 60_000,
  });
  await load;
  await untilSynced(task);
  await task.complete();
  await running;
  expect(
    log.warnings.some((w) => /lost this task's keys/.test(w)),
    log.warnings.join('\n'),
  ).toBe(true);
  expect(task.doneCheck?.ok).toBe(true);
}

async function lossAndRecovery(
  lose: (target: RedisServer) => Promise<void>,
  o: { leaseTtlMs?: number } = {},
): Promise<void> {
  const source = await server({ label: 'source' });
  const target = await server({ label: 'target' }); // no persistence
  await populate(source.client(), { dbs: [0, 2], randomKeys: 5000 });
  const task = engine(undefined, o).createTask(spec(source, endpointOf(target)));
  const log = record(task);
  const load = writeLoad(source.client(), { opsPerSec: 500, durationMs: 9000, dbs: [0, 2] });
  const running = task.start();
  await waitFor(async () => task.state === 'incremental_sync', { what: 'streaming', timeoutMs: 60_000 });
  await new Promise((r) => setTimeout(r, 1000));
  await lose(target);
  await rewrittenAndDone(task, log, running, load);
  // the snapshot is written anew: a second full sync, after which it streams (a retry may have
  // resumed in between, before the loss was seen)
  const modes = log.starts.map((s) => s.mode);
  expect(modes.filter((m) => m === 'full').length, modes.join()).toBe(2);
  expect(modes.at(-1)).toBe('full');
  expect(log.errors.every((e) => e.retrying)).toBe(true);
  expect(formatDifferences(await compareDeployments(source, target, { dbs: [0, 2] }))).toBe('');
}

describe('a target that lost the data', () => {
  it('restarted empty while streaming: the snapshot is written again', async () => {
    await lossAndRecovery(async (target) => {
      await target.kill();
      await target.restart();
    });
  });

  it('away for longer than the lease, then back empty: the restart tells a loss from a takeover, and the snapshot is written again', async () => {
    // keys that vanish while the lease could not be renewed are read as "another process took the
    // task over and finished it" only when the target did not restart; this one did (a new run_id)
    await lossAndRecovery(
      async (target) => {
        await target.kill();
        await new Promise((r) => setTimeout(r, 2500));
        await target.restart();
      },
      { leaseTtlMs: 1000 },
    );
  });

  it('FLUSHALL by another client while streaming: the snapshot is written again', async () => {
    await lossAndRecovery(async (target) => {
      await target.command('FLUSHALL');
    });
  });

  it('a cluster master lost, and failed over to a replica that had not synced yet: the snapshot is written again', async () => {
    const source = await server({ label: 'source' });
    // the masters wait 30 s before a replica's sync: a replica added now stays empty that long
    const target = await servers.cluster({
      masters: 3,
      config: { 'repl-diskless-sync': 'yes', 'repl-diskless-sync-delay': 30 },
    });
    const spare = await server({ label: 'spare', cluster: true });
    await populate(source.client(), { randomKeys: 5000 });
    const seed = target.seeds[0] as { host: string; port: number };
    const endpoint = { host: seed.host, port: seed.port };
    const task = engine().createTask(spec(source, endpoint, { target: { endpoint, cluster: true } }));
    const log = record(task);
    // db 0 only: a cluster has no other
    const load = writeLoad(source.client(), { opsPerSec: 500, durationMs: 9000, dbs: [0] });
    const running = task.start();
    await waitFor(async () => task.state === 'incremental_sync', { what: 'streaming', timeoutMs: 60_000 });
    // the spare joins as a replica of the last master, which then dies before the spare has any data
    const master = (await target.masters()).at(-1) as RedisServer;
    const masterId = String(await master.command('CLUSTER', 'MYID'));
    await spare.command('CLUSTER', 'MEET', master.host, master.port);
    await waitFor(
      async () =>
        /cluster_state:ok[\s\S]*cluster_known_nodes:4/.test(String(await spare.command('CLUSTER', 'INFO'))),
      { what: 'the spare to know the cluster', timeoutMs: 20_000 },
    );
    await spare.command('CLUSTER', 'REPLICATE', masterId);
    await waitFor(async () => (await spare.info('replication')).role === 'slave', {
      what: 'the spare to be a replica',
      timeoutMs: 20_000,
    });
    await master.kill();
    expect(Number(await spare.command('DBSIZE'))).toBe(0);
    await spare.command('CLUSTER', 'FAILOVER', 'TAKEOVER');
    await waitFor(
      async () =>
        /myself,master \S+ \S+ \S+ \S+ connected \d/.test(String(await spare.command('CLUSTER', 'NODES'))),
      {
        what: "the spare to serve the lost master's slots",
        timeoutMs: 20_000,
      },
    );
    await rewrittenAndDone(task, log, running, load);
    const live = [spare, ...(await target.masters()).filter((m) => m !== master && m.running())];
    const after = { kind: 'cluster' as const, seeds: live.map((m) => m.endpoint) };
    expect(formatDifferences(await compareDeployments(source, after, { dbs: [0] }))).toBe('');
  });

  it('a FLUSHALL on the source is replayed, and is not taken for a loss', async () => {
    const source = await server({ label: 'source' });
    const target = await server({ label: 'target' });
    const src = source.client();
    await populate(src, { randomKeys: 500 });
    const task = engine().createTask(spec(source, endpointOf(target)));
    const log = record(task);
    const running = task.start();
    await waitFor(async () => task.state === 'incremental_sync', { what: 'streaming', timeoutMs: 60_000 });
    await src.flushall();
    for (let i = 0; i < 50; i++) await src.set(`after:${i}`, i);
    await new Promise((r) => setTimeout(r, 3000));
    await untilSynced(task);
    await task.complete();
    await running;
    expect(log.starts.map((s) => s.mode)).toEqual(['full']);
    expect(log.warnings.filter((w) => /lost/.test(w))).toEqual([]);
    expect(formatDifferences(await compareDeployments(source, target, { dbs: [0] }))).toBe('');
    src.disconnect();
  });
});
