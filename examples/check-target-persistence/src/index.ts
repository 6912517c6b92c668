import { type CheckFinding, defineCheck, type Endpoint } from '@ferry/plugin-sdk';

export const META = { name: '@ferry/example-check-target-persistence', version: '0.1.0', engine: '^0.1.0' };

/** One target node's persistence, from CONFIG GET appendonly and save. */
async function persistence(
  probe: Parameters<Parameters<typeof defineCheck>[0]['run']>[0]['probe'],
  node: Endpoint,
): Promise<CheckFinding> {
  const name = `target ${node.host}:${node.port}`;
  const [aof, save] = await Promise.all([probe.config(node, 'appendonly'), probe.config(node, 'save')]);
  if ('refused' in aof || 'refused' in save) {
    const why = 'refused' in aof ? aof.refused : (save as { refused: string }).refused;
    return {
      status: 'warn',
      message: `could not read the persistence settings of ${name}: ${why}`,
      advice:
        'make sure by hand that the target persists (appendonly yes, or a save schedule) before you cut over',
    };
  }
  const details = { node: `${node.host}:${node.port}`, appendonly: aof.value, save: save.value };
  const snapshots = save.value.trim() !== '';
  if (aof.value !== 'yes' && !snapshots)
    return {
      status: 'warn',
      message: `${name} persists nothing (appendonly no, save ""): a restart would lose every key migrated to it`,
      advice:
        'turn on appendonly yes (or a save schedule) on the target before migrating, or accept that a restart of the target means migrating again',
      details,
    };
  if (aof.value !== 'yes')
    return {
      status: 'pass',
      message: `${name} saves snapshots (save "${save.value}"); writes since the last one would be lost in a crash`,
      details,
    };
  return { status: 'pass', message: `${name} writes an append-only file (appendonly yes)`, details };
}

/**
 * A precheck that the target keeps what it is given: a target with neither an append-only file
 * nor snapshots loses the whole migration when it restarts. Every master of a cluster target is
 * asked; a proxy target cannot be read through, and the check says so instead.
 */
export function checkTargetPersistence() {
  return defineCheck({
    meta: META,
    id: 'target-persistence',
    title: 'Target persistence',
    readsTarget: true,
    async run(input) {
      const nodes = input.targetCluster
        ? ((await input.probe.clusterMasters(input.target)) ?? [input.target])
        : [input.target];
      return Promise.all(nodes.map((n) => persistence(input.probe, n)));
    },
  });
}

/** What `ferry --plugin @ferry/example-check-target-persistence` and FERRY_PLUGINS load. */
export function plugins() {
  return [checkTargetPersistence()];
}
