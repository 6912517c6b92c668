import { randomBytes } from 'node:crypto';
import { serverScope, waitFor } from '@ferry/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { endpointOf, engine, spec, untilSynced } from './helpers.js';

const servers = serverScope();
afterAll(() => servers.stop());

describe('memory', () => {
  it('holds at most maxInFlightBytes of unacknowledged values: a stalled target stops the snapshot read there', async () => {
    // the source sends a key every 20 ms (rdb-key-save-delay): the snapshot lasts about a second,
    // long enough to stall its writing on purpose
    const source = await servers.redis({
      label: 'source',
      config: { 'repl-diskless-sync-delay': 0, 'rdb-key-save-delay': 20_000 },
    });
    const target = await servers.redis({ label: 'target' });
    const src = source.client();
    // 96 values of 1 MB that do not compress: the RDB is about 96 MB
    for (let i = 0; i < 96; i++) await src.set(`big:${i}`, randomBytes(1 << 20));
    const budget = 4 << 20;
    const task = engine().createTask(
      spec(source, endpointOf(target), { options: { maxInFlightBytes: budget } }),
    );
    const running = task.start();
    await waitFor(async () => (task.metrics()[0]?.keys ?? 0) > 0, {
      what: 'the first key to be written',
      timeoutMs: 30_000,
      intervalMs: 5,
    });
    // the target stops answering writes: what Ferry sends now stays unacknowledged
    const tgt = target.client();
    await tgt.call('CLIENT', 'PAUSE', '1500', 'WRITE');
    const atPause = task.metrics()[0]?.snapshotBytes ?? 0;
    await new Promise((r) => setTimeout(r, 1200));
    const duringPause = task.metrics()[0]?.snapshotBytes ?? 0;
    // read on while paused: the budget, one value past it, and the parser's read-ahead at most. (The
    // source sent about 60 MB meanwhile: measured with a budget of 1 GB, 45 MB were read during the
    // pause; with this one, 4.2 MB.)
    expect(duringPause - atPause, `read during the pause`).toBeLessThanOrEqual(budget + (3 << 20));
    await untilSynced(task);
    await task.complete();
    await running;
    expect(task.state).toBe('succeeded');
    expect(await tgt.dbsize()).toBe(96);
    src.disconnect();
    tgt.disconnect();
  });
});
