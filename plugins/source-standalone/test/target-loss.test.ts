/**
 * A target that loses the task's data while it streams: Ferry must not stream on as if nothing
 * happened (and then say "done" with most keys missing), but notice it, say so, and write the
 * snapshot again.
 */
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

async function lossAndRecovery(lose: (target: RedisServer) => Promise<void>): Promise<void> {
  const source = await server({ label: 'source' });
  const target = await server({ label: 'target' }); // no persistence
  await populate(source.client(), { dbs: [0, 2], randomKeys: 5000 });
  const task = engine().createTask(spec(source, endpointOf(target)));
  const log = record(task);
  const load = writeLoad(source.client(), { opsPerSec: 500, durationMs: 9000, dbs: [0, 2] });
  const running = task.start();
  await waitFor(async () => task.state === 'incremental_sync', { what: 'streaming', timeoutMs: 60_000 });
  await new Promise((r) => setTimeout(r, 1000));
  await lose(target);
  await waitFor(async () => log.starts.length >= 2, {
    what: 'the snapshot written again',
    timeoutMs: 30_000,
  });
  await load;
  await untilSynced(task);
  await task.complete();
  await running;
  expect(
    log.warnings.some((w) => /lost this task's keys/.test(w)),
    log.warnings.join('\n'),
  ).toBe(true);
  // the snapshot is written anew: a second full sync, after which it streams (a retry may have
  // resumed in between, before the loss was seen)
  const modes = log.starts.map((s) => s.mode);
  expect(modes.filter((m) => m === 'full').length, modes.join()).toBe(2);
  expect(modes.at(-1)).toBe('full');
  expect(log.errors.every((e) => e.retrying)).toBe(true);
  expect(task.doneCheck?.ok).toBe(true);
  expect(formatDifferences(await compareDeployments(source, target, { dbs: [0, 2] }))).toBe('');
}

describe('a target that lost the data', () => {
  it('restarted empty while streaming: the snapshot is written again', async () => {
    await lossAndRecovery(async (target) => {
      await target.kill();
      await target.restart();
    });
  });

  it('FLUSHALL by another client while streaming: the snapshot is written again', async () => {
    await lossAndRecovery(async (target) => {
      await target.command('FLUSHALL');
    });
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
