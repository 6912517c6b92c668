import {
  type CheckInput,
  dbTargetOf,
  type Endpoint,
  endpointName,
  OwnKeys,
  readNode,
  targetNodes,
} from '@ferry/core';
import { defineCheck, keyspaceDbs, type Result, result } from '../util.js';

/** Whether db 0 holds only Ferry's own keys (an earlier task's checkpoints, a lease): not the user's data. */
async function onlyFerryKeys(probe: CheckInput['probe'], node: Endpoint, own: OwnKeys): Promise<boolean> {
  const [cursor, keys] = (await probe.command(node, ['SCAN', 0, 'COUNT', 100])) as [Buffer, Buffer[]];
  return String(cursor) === '0' && keys.every((k) => own.is(k));
}

/** The target holds no keys in the dbs the migration writes to (a fail under conflict policy "fail"). */
export function checkTargetEmpty() {
  return defineCheck(
    'target-empty',
    'Target is empty',
    async (input) => {
      const policy = input.options.conflict;
      const masters = await targetNodes(input);
      // the dbs the task writes to: the db map applied to the source's dbs (a cluster has db 0 only)
      const sourceDbs = new Set<number>();
      for (const shard of input.shards)
        for (const db of keyspaceDbs(await input.probe.info(readNode(shard), 'keyspace')).keys())
          sourceDbs.add(db);
      const mapped = new Set<number>();
      for (const db of sourceDbs.size > 0 ? sourceDbs : new Set([0])) {
        const route = dbTargetOf(input.options.dbMap, db);
        if (route) mapped.add(input.targetCluster ? 0 : route.db);
      }
      const held: Array<{ node: string; db: number; keys: number }> = [];
      for (const node of masters) {
        const ks = keyspaceDbs(await input.probe.info(node, 'keyspace'));
        for (const [db, keys] of ks) {
          if (!mapped.has(db)) continue;
          if (
            db === 0 &&
            keys <= 16 &&
            (await onlyFerryKeys(input.probe, node, new OwnKeys(input.options.reservedPrefix)))
          )
            continue;
          held.push({ node: endpointName(node), db, keys });
        }
      }
      if (held.length === 0)
        return [
          result(
            'pass',
            `the target holds no keys in the dbs the migration writes to (${[...mapped].join(', ')})`,
          ),
        ];
      const where = held
        .map((h) => `${masters.length > 1 ? `${h.node} ` : ''}db ${h.db}: ${h.keys} keys`)
        .join(', ');
      const details = { policy, held };
      const out: Result[] = [];
      if (policy === 'fail')
        out.push(
          result('fail', `the target is not empty (${where}) and the conflict policy is "fail"`, {
            advice:
              'empty those dbs on the target (FLUSHDB), or choose --conflict replace (source wins) or --conflict skip (target wins)',
            details,
          }),
        );
      else
        out.push(
          result(
            'warn',
            `the target is not empty (${where}): keys that exist on both are ${policy === 'replace' ? 'overwritten by the source' : 'left as the target has them'}`,
            {
              advice:
                'make sure the target’s keys are meant to stay; verification will report the ones the source does not have',
              details,
            },
          ),
        );
      return out;
    },
    { readsTarget: true },
  );
}
