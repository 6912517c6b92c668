import { endpointName, targetNodes } from '@ferry/core';
import { defineCheck, eachNode, result } from '../util.js';

/** The target evicts nothing: any other policy could drop migrated keys silently. */
export function checkEvictionPolicy() {
  return defineCheck(
    'eviction-policy',
    'Target eviction policy',
    async (input) =>
      eachNode(
        (await targetNodes(input)).map((node) => ({ node })),
        'the eviction policy',
        async ({ node }) => {
          const mem = await input.probe.info(node, 'memory');
          let policy = mem.maxmemory_policy;
          if (policy === undefined) {
            const c = await input.probe.config(node, 'maxmemory-policy');
            if (!('value' in c))
              return [
                result('warn', `could not read the eviction policy of ${endpointName(node)}: ${c.refused}`),
              ];
            policy = c.value;
          }
          if (policy !== 'noeviction')
            return [
              result(
                'warn',
                `target ${endpointName(node)} has maxmemory-policy ${policy}: once full it evicts keys, and migrated data disappears without an error`,
                {
                  advice: `CONFIG SET maxmemory-policy noeviction on the target for the migration (writes then fail loudly with OOM instead)`,
                  details: { policy },
                },
              ),
            ];
          return [result('pass', `target ${endpointName(node)} evicts nothing (noeviction)`)];
        },
      ),
    { readsTarget: true },
  );
}
