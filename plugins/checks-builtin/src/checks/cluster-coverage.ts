import type { CheckInput } from '@ferry/core';
import { type Endpoint, endpointName, readNode } from '@ferry/core';
import { defineCheck, type Result, result } from '../util.js';

async function coverage(input: CheckInput, node: Endpoint, side: string): Promise<Result> {
  const info = Object.fromEntries(
    String(await input.probe.command(node, ['CLUSTER', 'INFO']))
      .split('\n')
      .map((l) => l.trim().split(':') as [string, string]),
  ) as Record<string, string>;
  const assigned = Number(info.cluster_slots_assigned ?? 0);
  const state = info.cluster_state ?? 'unknown';
  const failing = Number(info.cluster_slots_fail ?? 0);
  const details = { node: endpointName(node), state, assigned, failing };
  if (state !== 'ok' || assigned < 16384)
    return result(
      'fail',
      `the ${side} cluster (seen from ${endpointName(node)}) is cluster_state:${state} with ${assigned} of 16384 slots assigned${failing ? `, ${failing} failing` : ''}`,
      {
        advice: 'assign every slot and heal the cluster first: redis-cli --cluster check, then --cluster fix',
        details,
      },
    );
  return result('pass', `the ${side} cluster covers all 16384 slots and is ok`, { details });
}

/** A cluster source or target covers all 16 384 slots and is cluster_state:ok. */
export function checkClusterCoverage() {
  return defineCheck(
    'cluster-coverage',
    'Cluster slot coverage',
    async (input) => {
      const out: Result[] = [];
      // the source: one look per cluster it belongs to (every shard of a cluster source sees the same)
      const first = input.shards[0];
      if (first) {
        const node = readNode(first);
        if ((await input.probe.info(node, 'cluster')).cluster_enabled === '1')
          out.push(await coverage(input, node, 'source'));
      }
      const targetIsCluster = (await input.probe.info(input.target, 'cluster')).cluster_enabled === '1';
      if (input.targetCluster && !targetIsCluster)
        out.push(
          result(
            'fail',
            `the target ${endpointName(input.target)} was given as a cluster but is not a cluster node`,
            {
              advice: 'drop --target-cluster, or give a node of the target cluster',
            },
          ),
        );
      else if (!input.targetCluster && targetIsCluster)
        out.push(
          result(
            'fail',
            `the target ${endpointName(input.target)} is a cluster node, but was not given as a cluster`,
            {
              advice: 'add --target-cluster, so keys are routed to the master of their slot',
            },
          ),
        );
      else if (targetIsCluster) out.push(await coverage(input, input.target, 'target'));
      if (out.length === 0) out.push(result('pass', 'neither side is a cluster: nothing to cover'));
      return out;
    },
    { readsTarget: true },
  );
}
