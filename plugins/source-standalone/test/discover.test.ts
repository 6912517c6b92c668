import { isFerryError } from '@ferry/errors';
import { type RedisServer, serverScope, startReplica } from '@ferry/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { sourceStandalone } from '../src/index.js';
import { endpointOf, engine, spec, untilSynced } from './helpers.js';

const servers = serverScope();
afterAll(() => servers.stop());
const server = servers.redis;
const ctx = {
  taskId: 't',
  signal: new AbortController().signal,
  log: { debug() {}, info() {}, warn() {} },
  emit() {},
};

describe('source-standalone', () => {
  it('finds the primary behind a replica and reads from the replica', async () => {
    const primary = await server({ label: 'primary', password: 'pw' });
    const replica = await startReplica(primary, { label: 'replica' });
    servers.adopt(replica);
    const plugin = sourceStandalone();
    const shards = await plugin.discover(
      plugin.parseOptions({ nodes: [`${replica.host}:${replica.port}:pw`] }),
      ctx,
    );
    expect(shards).toEqual([
      {
        id: 'standalone',
        primary: { host: '127.0.0.1', port: primary.port, password: 'pw' },
        replicas: [{ host: replica.host, port: replica.port, password: 'pw' }],
      },
    ]);
    const target = await server({ label: 'target' });
    await primary.client().set('k', 'v');
    const task = engine().createTask(spec({ ...endpointOf(replica), password: 'pw' }, endpointOf(target)));
    const running = task.start();
    await untilSynced(task);
    // Ferry's replication link is on the replica; the primary has only its real replica
    const replicasOf = async (s: RedisServer): Promise<number> =>
      Number((await s.info('replication')).connected_slaves);
    expect(await replicasOf(replica)).toBe(1);
    expect(await replicasOf(primary)).toBe(1);
    await task.complete();
    await running;
    expect(await target.client().get('k')).toBe('v');
  });

  it('refuses two primaries and bad node specs with clear errors', async () => {
    const a = await server({ label: 'a' });
    const b = await server({ label: 'b' });
    const plugin = sourceStandalone();
    await expect(
      plugin.discover(plugin.parseOptions({ nodes: [endpointOf(a), endpointOf(b)] }), ctx),
    ).rejects.toThrow(/given 2 primaries/);
    for (const bad of [{}, { nodes: [] }, { nodes: ['nope'] }, { nodes: ['h:1'], preferReplica: 'yes' }]) {
      let error: unknown;
      try {
        plugin.parseOptions(bad);
      } catch (err) {
        error = err;
      }
      expect(isFerryError(error, 'CONFIG_INVALID'), JSON.stringify(bad)).toBe(true);
    }
  });
});
