import {
  type CheckInput,
  type Endpoint,
  endpointName,
  hasImportMode,
  importModeKey,
  targetNodes,
} from '@ferry/core';
import { defineCheck, eachNode, result } from '../util.js';

const WHY =
  'without it, a key whose TTL runs out on the target while the migration lags is deleted there before the source command that kept it (EXPIRE, PERSIST, SET) arrives, and stays missing';

/**
 * Valkey 8.1+ targets: whether the task can run under import mode (the target then neither expires
 * nor evicts keys until the task ends; see @ferry/core's import-mode.ts). Says nothing for targets
 * that have no import mode, unless the task requires it.
 */
export function checkImportMode() {
  return defineCheck(
    'target-import-mode',
    'Target import mode',
    async (input) => {
      const mode = input.options.targetImportMode;
      if (input.targetProxy) return [];
      return eachNode(
        (await targetNodes(input)).map((node) => ({ node })),
        'the import mode',
        async ({ node }) => {
          const name = endpointName(node);
          const id = await input.probe.identity(node);
          if (!hasImportMode(id))
            return mode === 'on'
              ? [
                  result(
                    'fail',
                    `target ${name} is ${id.label}: it has no import mode (Valkey 8.1 and later)`,
                    {
                      advice: '--target-import-mode auto (or off) runs the task without it',
                    },
                  ),
                ]
              : [];
          if (mode === 'off')
            return [
              result(
                'pass',
                `target ${name} (${id.label}) has import mode; the task runs without it, as asked`,
              ),
            ];
          const c = await input.probe.config(node, 'import-mode');
          if (!('value' in c))
            return [
              result(
                mode === 'on' ? 'fail' : 'warn',
                `could not read import-mode on target ${name} (${c.refused}): the task ${mode === 'on' ? 'requires it' : 'tries to turn it on, and runs without it if refused'}; ${WHY}`,
                {
                  advice:
                    'allow CONFIG GET and CONFIG SET import-mode to the target user, or set it yourself',
                },
              ),
            ];
          if (c.value === 'yes' && (await leftByThisTask(input, node)))
            return [
              result(
                'warn',
                `import mode is on on target ${name}, left on by a run of this task that did not end (killed, or cut off from the target): keys there neither expire nor are evicted until it is off; the task takes it over and turns it off at its end`,
                {
                  advice:
                    'run the task to its end, or CONFIG SET import-mode no on the target if you abandon it',
                  details: { importMode: 'yes' },
                },
              ),
            ];
          if (c.value === 'yes')
            return [
              result(
                'warn',
                `import mode is already on on target ${name}: keys there neither expire nor are evicted while it is on (a Ferry run that was killed leaves it on); the task runs under it and leaves it on at its end, as it found it`,
                {
                  advice: 'CONFIG SET import-mode no on the target once no migration writes to it',
                  details: { importMode: 'yes' },
                },
              ),
            ];
          return [
            result(
              'pass',
              `target ${name} (${id.label}): Ferry turns import mode on for the migration (no expiry, no eviction while keys arrive) and off again when the task ends`,
              { details: { importMode: c.value } },
            ),
          ];
        },
      );
    },
    // not `readsTarget`: through a proxy it has nothing to say (a proxy target has no import mode)
  );
}

/** Whether this task's own key says that it turned import mode on on `node` (see import-mode.ts). */
async function leftByThisTask(input: CheckInput, node: Endpoint): Promise<boolean> {
  let slot = 0;
  if (input.targetCluster) {
    // the task addresses a master by the first slot it serves
    const nodes = String(await input.probe.command(node, ['CLUSTER', 'NODES']));
    const mine = nodes.split('\n').find((l) => l.split(' ')[2]?.includes('myself'));
    const first = mine?.split(' ').slice(8)[0];
    if (!first || first.startsWith('[')) return false;
    slot = Number(first.split('-')[0]);
  }
  const key = importModeKey(input.taskId, slot, input.options.reservedPrefix);
  return Number(await input.probe.command(node, ['EXISTS', key])) === 1;
}
