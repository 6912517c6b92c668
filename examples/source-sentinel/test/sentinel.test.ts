/**
 * The example Sentinel topology against real servers: a primary, its replica and a Sentinel
 * (`redis-server --sentinel`), all started by the testkit. The contract suite, then a migration
 * that follows a failover the Sentinel carries out while writes go on.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEngine, MemoryCheckpointStore } from '@ferry/core';
import {
  allocatePort,
  compareDeployments,
  defineSourceTopologySuite,
  formatDifferences,
  populate,
  type RedisServer,
  record,
  releasePort,
  serverScope,
  startReplica,
  untilSynced,
  waitFor,
  writeLoad,
} from '@ferry/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { sourceSentinel } from '../src/index.js';

async function deployment(
  scope: ReturnType<typeof serverScope>,
  label: string,
): Promise<{ primary: RedisServer; replica: RedisServer; sentinel: RedisServer }> {
  const primary = await scope.redis({ label: `${label}-primary`, password: 'spw' });
  const replica = scope.adopt(await startReplica(primary, { label: `${label}-replica` }));
  await waitFor(async () => (await replica.info('replication')).master_link_status === 'up', {
    what: 'the replica to be in sync',
  });
  const sentinel = await scope.redis({
    label: `${label}-sentinel`,
    sentinel: { name: 'orders', master: primary.endpoint },
  });
  // the Sentinel has found the replica and its link up (it reads the primary's INFO every 10 s at first)
  await waitFor(
    async () => {
      const seen = (await sentinel.command('SENTINEL', 'replicas', 'orders')) as string[][];
      return seen.length === 1 && seen[0]?.join(' ').includes('master-link-status ok') === true;
    },
    { what: 'the Sentinel to see the replica in sync', timeoutMs: 30_000 },
  );
  return { primary, replica, sentinel };
}

defineSourceTopologySuite('sentinel', {
  plugin: sourceSentinel,
  invalidOptions: [
    {},
    { sentinels: ['127.0.0.1:26379'] },
    { sentinels: 'not-an-address', masterName: 'orders' },
    { sentinels: ['127.0.0.1:99999'], masterName: 'orders' },
    { sentinels: [], masterName: 'orders' },
    { sentinels: ['127.0.0.1:26379'], masterName: '' },
  ],
  async setup(scope) {
    const { primary, sentinel } = await deployment(scope, 'contract');
    const client = primary.client();
    const { keys } = await populate(client, { dbs: [0, 1], randomKeys: 300 });
    client.disconnect();
    const port = await allocatePort(); // held for the suite: nobody listens there
    afterAll(() => releasePort(port));
    return {
      options: { sentinels: [`${sentinel.host}:${sentinel.port}`], masterName: 'orders', password: 'spw' },
      shards: 1,
      keys,
      unreachable: {
        options: { sentinels: [`127.0.0.1:${port}`], masterName: 'orders' },
        names: `127.0.0.1:${port}`,
      },
    };
  },
});

describe('sentinel source', () => {
  const servers = serverScope();
  afterAll(() => servers.stop());

  it('names a master the Sentinels do not know, and asks the next Sentinel when one is down', async () => {
    const { sentinel } = await deployment(servers, 'names');
    const plugin = sourceSentinel();
    const ctx = { taskId: 't', signal: new AbortController().signal, log: console, emit() {} };
    const err = await plugin
      .discover(
        plugin.parseOptions({ sentinels: [`${sentinel.host}:${sentinel.port}`], masterName: 'nope' }),
        ctx,
      )
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'CONFIG_INVALID' });
    expect((err as Error).message).toContain('the Sentinels know no master "nope"');
    const port = await allocatePort();
    const [shard] = await plugin.discover(
      plugin.parseOptions({
        sentinels: [`127.0.0.1:${port}`, `${sentinel.host}:${sentinel.port}`],
        masterName: 'orders',
      }),
      ctx,
    );
    releasePort(port);
    expect(shard?.replicas.length).toBe(1);
  });

  it('migrates from the primary, follows the Sentinel to the promoted replica when the primary dies, and ends exact', async () => {
    const { primary, replica, sentinel } = await deployment(servers, 'failover');
    const c = primary.client();
    await populate(c, { randomKeys: 2000 });
    c.disconnect();
    const target = await servers.redis({ label: 'target' });
    const engine = createEngine({
      plugins: [sourceSentinel()],
      checkpoints: new MemoryCheckpointStore(),
      spoolDir: mkdtempSync(join(tmpdir(), 'ferry-spool-')),
    });
    const task = engine.createTask({
      id: 'sentinel-failover',
      source: {
        topology: 'sentinel',
        options: {
          sentinels: [`${sentinel.host}:${sentinel.port}`],
          masterName: 'orders',
          password: 'spw',
          preferReplica: false, // read the primary, which is about to die
          watchIntervalMs: 250,
        },
      },
      target: { endpoint: target.endpoint },
    });
    const log = record(task);
    const running = task.start();
    await untilSynced(task, 500);
    const before = writeLoad(primary.client(), { opsPerSec: 500, durationMs: 1000, prefix: 'a:' });
    expect((await before).errors).toBe(0);
    await waitFor(
      async () =>
        (await replica.info('replication')).master_repl_offset ===
        (await primary.info('replication')).master_repl_offset,
      {
        what: 'the replica to have every write',
      },
    );
    await primary.kill();
    await waitFor(async () => (await replica.info('replication')).role === 'master', {
      what: 'the Sentinel to promote the replica',
      timeoutMs: 30_000,
    });
    // the application follows the Sentinel too: its writes now go to the promoted replica
    const after = writeLoad(replica.client(), { opsPerSec: 500, durationMs: 1500, prefix: 'b:' });
    expect((await after).errors).toBe(0);
    await waitFor(async () => log.topology.some((t) => t.startsWith('failover')), {
      what: 'the task to see the failover',
      timeoutMs: 20_000,
    });
    await untilSynced(task, 1000);
    await task.complete();
    await running;
    expect(task.state, JSON.stringify(log.errors)).toBe('succeeded');
    expect(log.topology.find((t) => t.startsWith('failover'))).toContain(`${replica.host}:${replica.port}`);
    expect(formatDifferences(await compareDeployments(replica, target)), log.warnings.join('\n')).toBe('');
  });
});
