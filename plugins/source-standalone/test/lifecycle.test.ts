import { isFerryError } from '@ferry/errors';
import {
  compareDeployments,
  formatDifferences,
  populate,
  serverScope,
  waitFor,
  writeLoad,
} from '@ferry/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { endpointOf, engine, ferryKeys, record, spec, untilSynced } from './helpers.js';

const servers = serverScope();
afterAll(() => servers.stop());
const server = servers.redis;
const wait = (what: string, probe: () => boolean, timeoutMs = 60_000): Promise<boolean> =>
  waitFor(async () => probe(), { what, timeoutMs });

describe('task lifecycle', () => {
  it('pauses, resumes, stops at a checkpoint and starts again with +CONTINUE', async () => {
    const source = await server({ label: 'source' });
    const target = await server({ label: 'target' });
    const src = source.client();
    await populate(src, { randomKeys: 2000 });
    const e = engine();
    const task = e.createTask(spec(source, endpointOf(target)));
    const log = record(task);
    const states: string[] = [];
    task.events.on('task:state', (s) => states.push(s.to));
    let running = task.start();
    await wait('streaming', () => task.state === 'incremental_sync');
    expect(() => task.resume()).toThrow(/cannot resume a task that is incremental sync/);

    task.pause();
    const pausedAt = task.metrics()[0]?.commands ?? 0;
    await writeLoad(source.client(), { opsPerSec: 2000, durationMs: 1500 });
    await new Promise((r) => setTimeout(r, 500));
    // paused: nothing applied, everything spooled
    expect(task.metrics()[0]?.commands, JSON.stringify(states)).toBe(pausedAt);
    task.resume();
    await untilSynced(task);

    await task.stop();
    await running;
    expect(task.state).toBe('stopped');
    await writeLoad(source.client(), { opsPerSec: 2000, durationMs: 1000 });
    running = task.start();
    await untilSynced(task);
    await task.complete();
    await running;
    // what happened, for a failure message (this test failed once under load, not reproduced since)
    const story = JSON.stringify({ states, starts: log.starts, errors: log.errors, warnings: log.warnings });
    expect(
      log.starts.map((s) => s.mode),
      story,
    ).toEqual(['full', 'continue']);
    expect(states, story).toEqual([
      'preparing',
      'full_sync',
      'incremental_sync',
      'paused',
      'incremental_sync',
      'stopping',
      'stopped',
      'preparing',
      'incremental_sync',
      'completing',
      'succeeded',
    ]);
    expect(formatDifferences(await compareDeployments(source, target))).toBe('');
    expect(() => task.pause()).toThrow(/cannot pause a task that is succeeded/);
    src.disconnect();
  });

  it('refuses to complete while behind, unless forced', async () => {
    const source = await server({ label: 'source' });
    const target = await server({ label: 'target' });
    const task = engine().createTask(spec(source, endpointOf(target)));
    const running = task.start();
    await wait('streaming', () => task.state === 'incremental_sync');
    task.setRateLimit({ keysPerSec: 50 }); // changeable while running: the lag builds up
    await writeLoad(source.client(), { opsPerSec: 3000, durationMs: 1500 });
    await wait('the lag to show', () => task.lagBytes() > 0, 10_000);
    await expect(task.complete()).rejects.toSatisfy(
      (err: unknown) => isFerryError(err, 'CONFIG_INVALID') && /bytes behind/.test(String(err)),
    );
    task.setRateLimit({});
    await untilSynced(task);
    await task.complete();
    await running;
    expect(task.state).toBe('succeeded');
  });
});

describe('options', () => {
  it('filters, renames and measures lag with a heartbeat, in the snapshot and the stream', async () => {
    const source = await server({ label: 'source' });
    const target = await server({ label: 'target' });
    const src = source.client();
    for (const db of [0, 1]) {
      await src.select(db);
      await src.mset('user:1', 'a', 'user:2', 'b', 'tmp:user:3', 'c', 'order:1', 'd', 'other', 'e');
      await src.rpush('user:list', 'x', 'y');
    }
    const task = engine().createTask(
      spec(source, endpointOf(target), {
        options: {
          filter: { include: [{ glob: 'user:*' }, { prefix: 'order:' }], exclude: [{ regex: '^user:l' }] },
          dbMap: { 1: { db: 0, prefix: 'one:' } },
          renamePrefix: 'new:',
          sourceHeartbeat: true,
        },
      }),
    );
    const log = record(task);
    const running = task.start();
    await wait('streaming', () => task.state === 'incremental_sync');
    await src.select(1);
    await src.set('user:9', 'stream');
    await src.set('skipped:9', 'no');
    await src.incr('order:n');
    await src.select(0); // db 0 is not in the map: not migrated
    await src.set('user:0', 'not migrated');
    await wait('a heartbeat to come back', () => (task.metrics()[0]?.lagMs ?? -1) >= 0, 10_000);
    await untilSynced(task);
    await task.complete();
    await running;
    const t = target.client();
    expect((await t.keys('*')).sort()).toEqual([
      'one:new:order:1',
      'one:new:order:n',
      'one:new:user:1',
      'one:new:user:2',
      'one:new:user:9',
    ]);
    expect(await t.get('one:new:user:9')).toBe('stream');
    expect(await t.get('one:new:order:n')).toBe('1');
    expect(log.warnings).toEqual([]);
    expect(await ferryKeys(target)).toEqual([]);
    src.disconnect();
    t.disconnect();
  });
});
