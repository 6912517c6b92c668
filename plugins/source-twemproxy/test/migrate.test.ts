import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEngine, MemoryCheckpointStore } from '@ferry/core';
import {
  compareDeployments,
  formatDifferences,
  loadAcrossSnapshot,
  PROXY_LOAD_MIX,
  populate,
  record,
  serverScope,
  startTwemproxy,
  untilSynced,
} from '@ferry/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { sourceTwemproxy } from '../src/index.js';

const servers = serverScope();
afterAll(() => servers.stop());

describe('twemproxy source', () => {
  it('twemproxy (3 backends, from its nutcracker.yml) → 3-master cluster under write load', async () => {
    const backends = await Promise.all([1, 2, 3].map((i) => servers.redis({ label: `backend${i}` })));
    const proxy = servers.adopt(await startTwemproxy({ backends }));
    const target = await servers.cluster({ masters: 3 });
    await populate(proxy.client(), {
      catalogue: false,
      randomKeys: 3000,
      serverVersion: backends[0]?.version ?? '',
    });
    const engine = createEngine({
      plugins: [sourceTwemproxy()],
      checkpoints: new MemoryCheckpointStore(),
      spoolDir: mkdtempSync(join(tmpdir(), 'ferry-spool-')),
    });
    const task = engine.createTask({
      id: 'tw1',
      source: { topology: 'twemproxy', options: { config: proxy.configPath } },
      target: { endpoint: target.seeds[0] as { host: string; port: number }, cluster: true },
    });
    const log = record(task);
    const load = loadAcrossSnapshot(proxy.client(), task, { opsPerSec: 1500, mix: PROXY_LOAD_MIX });
    const running = task.start();
    const done = await load.done;
    expect(done.spannedSnapshot).toBe(true);
    expect(done.errors, done.errorSamples.join('\n')).toBe(0);
    await untilSynced(task);
    expect(
      task
        .metrics()
        .map((m) => m.shardId)
        .sort(),
    ).toEqual(['server1', 'server2', 'server3']);
    await task.complete();
    await running;
    expect(task.state).toBe('succeeded');
    // every backend held part of the data
    for (const b of backends) expect(await b.client().dbsize()).toBeGreaterThan(500);
    const diffs = await compareDeployments(proxy, target, { dbs: [0] });
    expect(formatDifferences(diffs), log.warnings.join('\n')).toBe('');
  });
});
