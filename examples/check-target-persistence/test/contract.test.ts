import { Probe, resolveOptions } from '@ferry/core';
import { defineCheckSuite } from '@ferry/testkit';
import { checkTargetPersistence } from '../src/index.js';

defineCheckSuite('target-persistence', {
  plugin: checkTargetPersistence,
  probe: (signal) => new Probe(signal),
  options: resolveOptions(),
  async setup(servers) {
    const source = await servers.redis({ label: 'source' });
    const target = await servers.redis({ label: 'target', config: { appendonly: 'no', save: '' } });
    const set = async (name: string, value: string): Promise<void> => {
      const c = target.client();
      await c.config('SET', name, value);
      c.disconnect();
    };
    return {
      source: source.endpoint,
      target: target.endpoint,
      cases: [
        { name: 'nothing persisted', status: 'warn', message: /persists nothing .*a restart would lose/ },
        {
          name: 'snapshots only',
          prepare: () => set('save', '3600 1'),
          status: 'pass',
          message: /saves snapshots \(save "3600 1"\)/,
        },
        {
          name: 'an append-only file',
          prepare: () => set('appendonly', 'yes'),
          status: 'pass',
          message: /writes an append-only file/,
        },
      ],
    };
  },
});
