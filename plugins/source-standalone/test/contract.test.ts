import { defineSourceTopologySuite, populate, startReplica } from '@ferry/testkit';
import { sourceStandalone } from '../src/index.js';

defineSourceTopologySuite('standalone', {
  plugin: sourceStandalone,
  invalidOptions: [
    {},
    { nodes: [] },
    { nodes: ['nope'] },
    { nodes: ['h:99999'] },
    { nodes: ['h:1'], preferReplica: 1 },
  ],
  async setup(scope) {
    const primary = await scope.redis({ label: 'contract-primary', password: 'cpw' });
    const replica = scope.adopt(await startReplica(primary, { label: 'contract-replica' }));
    const client = primary.client();
    const { keys } = await populate(client, { dbs: [0, 1], randomKeys: 300 });
    client.disconnect();
    return {
      options: { nodes: [`${primary.host}:${primary.port}:cpw`, `${replica.host}:${replica.port}:cpw`] },
      shards: 1,
      keys,
      unreachable: { options: { nodes: ['127.0.0.1:1'] }, names: '127.0.0.1:1' },
      wrongPassword: { nodes: [`${primary.host}:${primary.port}:wrong`] },
    };
  },
});
