import { defineSourceTopologySuite, populate } from '@ferry/testkit';
import { sourceCluster } from '../src/index.js';

defineSourceTopologySuite('cluster', {
  plugin: sourceCluster,
  invalidOptions: [
    {},
    { nodes: [] },
    { nodes: ['no-port'] },
    { nodes: ['h:1'], preferReplica: 'yes' },
    { nodes: ['h:1'], watchIntervalMs: 1 },
  ],
  async setup(scope) {
    const c = await scope.cluster({ masters: 3, replicasPerMaster: 1, password: 'contract-pw' });
    const client = c.client();
    const { keys } = await populate(client, { randomKeys: 600 });
    client.disconnect();
    const seed = c.seeds[0] as { host: string; port: number };
    return {
      options: { nodes: [`${seed.host}:${seed.port}:contract-pw`] },
      shards: 3,
      keys,
      unreachable: { options: { nodes: ['127.0.0.1:1:contract-pw'] }, names: '127.0.0.1:1' },
      wrongPassword: { nodes: [`${seed.host}:${seed.port}:wrong`] },
    };
  },
});
