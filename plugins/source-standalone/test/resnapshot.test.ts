/**
 * A snapshot written again (a cut link, a refused resume) first empties what the earlier pass
 * wrote — and nothing else: a db of the target that another client uses is not the task's.
 */
import {
  compareDeployments,
  formatDifferences,
  populate,
  serverScope,
  untilSynced,
  waitFor,
} from '@ferry/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { endpointOf, engine, record, spec } from './helpers.js';

const servers = serverScope();
afterAll(() => servers.stop());

describe('a re-snapshot empties only what the task wrote', () => {
  it('keeps a key another client wrote to an unused target db while the task ran', async () => {
    const source = await servers.redis({
      label: 'source',
      config: { 'rdb-key-save-delay': 200, 'repl-diskless-sync': 'yes', 'repl-diskless-sync-delay': 0 },
    });
    const target = await servers.redis({ label: 'target' });
    await populate(source.client(), { dbs: [0, 1], randomKeys: 10_000 });
    const task = engine().createTask(spec(source, endpointOf(target)));
    const log = record(task);
    const running = task.start();
    await waitFor(async () => (task.metrics()[0]?.keys ?? 0) > 2000, {
      what: 'part of the snapshot to be written',
      timeoutMs: 30_000,
    });
    // another client's key in db 5, which the source does not use
    const other = target.client();
    await other.select(5);
    await other.set('someone-else', 'keep me');
    // a key the source deletes before the snapshot is written again must not stay on the target
    const first = (await source.client().keys('*'))[0] as string;
    await source.client().del(first);
    expect(Number(await source.command('CLIENT', 'KILL', 'TYPE', 'replica'))).toBe(1);
    await source.command('CONFIG', 'SET', 'rdb-key-save-delay', '0');
    await untilSynced(task);
    await task.complete();
    await running;
    expect(log.starts.map((s) => s.mode)).toEqual(['full', 'full']);
    const emptied = log.warnings.find((w) => /emptied first/.test(w));
    expect(emptied).toMatch(/\(db 0, 1\) emptied first/);
    expect(await other.get('someone-else')).toBe('keep me');
    expect(formatDifferences(await compareDeployments(source, target, { dbs: [0, 1] }))).toBe('');
    other.disconnect();
  });
});
