import { defineSourceTopologySuite, populate, startTwemproxy } from '@ferry/testkit';
import { sourceTwemproxy } from '../src/index.js';

defineSourceTopologySuite('twemproxy', {
  plugin: sourceTwemproxy,
  invalidOptions: [
    {},
    { config: '/nonexistent/nutcracker.yml' },
    { configText: 'p:\n  servers:\n   - 127.0.0.1:1:1\n' },
    { nodes: [] },
    { nodes: ['x'] },
    { config: 'a', nodes: ['h:1'] },
    { configText: 1 },
  ],
  async setup(scope) {
    const backends = await Promise.all(
      [1, 2, 3].map((i) => scope.redis({ label: `backend${i}`, password: 'tw-pw' })),
    );
    const proxy = scope.adopt(await startTwemproxy({ backends, password: 'tw-pw' }));
    const { keys } = await populate(proxy.client(), {
      catalogue: false,
      randomKeys: 900,
      serverVersion: backends[0]?.version ?? '',
    });
    return {
      options: { config: proxy.configPath },
      shards: 3,
      keys,
      unreachable: {
        options: { configText: 'p:\n  redis: true\n  servers:\n   - 127.0.0.1:1:1 dead\n' },
        names: 'twemproxy backend dead',
      },
      wrongPassword: { config: proxy.configPath, password: 'wrong' },
    };
  },
});
