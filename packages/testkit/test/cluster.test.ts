import { afterAll, describe, expect, it } from 'vitest';
import { keySlot, type RedisCluster, startCluster } from '../src/index.js';
import { expectAllDead } from './helpers.js';

describe('startCluster', () => {
  let cluster: RedisCluster | undefined;
  afterAll(async () => {
    await cluster?.stop();
  });

  it('creates 3 masters with a replica each via redis-cli --cluster create, and stops every node', async () => {
    cluster = await startCluster({ masters: 3, replicasPerMaster: 1 });
    expect(cluster.nodes).toHaveLength(6);
    const topology = await cluster.topology();
    const masters = topology.filter((n) => n.role === 'master');
    expect(masters).toHaveLength(3);
    expect(topology.filter((n) => n.role === 'replica')).toHaveLength(3);
    const covered = masters.flatMap((m) => m.slots).reduce((sum, [a, b]) => sum + (b - a + 1), 0);
    expect(covered).toBe(16384);
    for (const node of cluster.nodes) {
      const info = String(await node.command('CLUSTER', 'INFO'));
      expect(info).toContain('cluster_state:ok');
    }

    // keys spread over the masters through a cluster client
    const client = cluster.client();
    for (let i = 0; i < 100; i++) await client.set(`key:${i}`, String(i));
    const perMaster = await Promise.all((await cluster.masters()).map((m) => m.client().dbsize()));
    expect(perMaster.filter((n) => n > 0).length).toBe(3);
    expect(perMaster.reduce((a, b) => a + b, 0)).toBe(100);

    // our slot function agrees with the server's, hash tags included
    const node = cluster.nodes[0];
    for (const key of ['a', 'key:17', '{user1000}.following', 'foo{}{bar}', 'ключ', '{}x', 'a{b']) {
      expect(keySlot(Buffer.from(key))).toBe(Number(await node?.command('CLUSTER', 'KEYSLOT', key)));
    }

    const pids = cluster.pids();
    expect(pids).toHaveLength(6);
    await cluster.stop();
    await expectAllDead(pids);
  });
});
