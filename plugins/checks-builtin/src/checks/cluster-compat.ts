import { endpointName, readNodes } from '@ferry/core';
import { defineCheck, eachNode, type Result, result } from '../util.js';

/**
 * Commands that take two keys or more by nature, which a cluster refuses (CROSSSLOT) unless they
 * share a slot. (DEL, MGET, EXISTS are left out: most calls name one key.)
 */
const MULTI_KEY = [
  'mset',
  'msetnx',
  'rename',
  'renamenx',
  'copy',
  'smove',
  'sunionstore',
  'sinterstore',
  'sdiffstore',
  'zunionstore',
  'zinterstore',
  'zdiffstore',
  'zrangestore',
  'rpoplpush',
  'lmove',
  'blmove',
  'brpoplpush',
  'bitop',
  'pfmerge',
  'geosearchstore',
  'sunion',
  'sinter',
  'sdiff',
  'zunion',
  'zinter',
  'zdiff',
];
const SCRIPTS = ['eval', 'evalsha', 'eval_ro', 'evalsha_ro', 'fcall', 'fcall_ro'];
const TRANSACTIONS = ['multi', 'exec'];

/**
 * Standalone → cluster: the source's command statistics show what the application does that a
 * cluster treats differently (multi-key commands across slots, Lua scripts, MULTI).
 */
export function checkClusterCompat() {
  return defineCheck(
    'cluster-compat',
    'Cluster compatibility of the workload',
    async (input) => {
      if (!input.targetCluster) return [result('pass', 'the target is not a cluster: nothing to check')];
      return eachNode(readNodes(input.shards), 'the command statistics', async ({ shard, node }) => {
        if ((await input.probe.info(node, 'cluster')).cluster_enabled === '1')
          return [
            result(
              'pass',
              `the source ${endpointName(node)} is already a cluster: its workload is cluster-safe`,
              { shardId: shard.id },
            ),
          ];
        const stats = await input.probe.info(node, 'commandstats');
        const calls = (names: string[]): Record<string, number> => {
          const out: Record<string, number> = {};
          for (const n of names) {
            const v = stats[`cmdstat_${n}`];
            const c = v ? Number(/calls=(\d+)/.exec(v)?.[1] ?? 0) : 0;
            if (c > 0) out[n] = c;
          }
          return out;
        };
        const multi = calls(MULTI_KEY);
        const scripts = calls(SCRIPTS);
        const tx = calls(TRANSACTIONS);
        const found: string[] = [];
        const fmt = (o: Record<string, number>): string =>
          Object.entries(o)
            .map(([k, v]) => `${k.toUpperCase()} ×${v}`)
            .join(', ');
        if (Object.keys(multi).length) found.push(`multi-key commands (${fmt(multi)})`);
        if (Object.keys(scripts).length) found.push(`Lua scripts (${fmt(scripts)})`);
        if (Object.keys(tx).length) found.push(`transactions (${fmt(tx)})`);
        const out: Result[] = [];
        if (found.length > 0)
          out.push(
            result(
              'warn',
              `the source ${endpointName(node)} has run ${found.join('; ')}: on a cluster these fail with CROSSSLOT unless all their keys share a slot`,
              {
                shardId: shard.id,
                advice:
                  'check that the application keeps each such command’s keys in one slot ({hash tags}); Ferry splits cross-slot commands of the stream by slot and reports split transactions',
                details: { multiKey: multi, scripts, transactions: tx },
              },
            ),
          );
        else
          out.push(
            result(
              'pass',
              `the source ${endpointName(node)} has run no multi-key command, script or transaction since its stats were reset`,
              { shardId: shard.id },
            ),
          );
        return out;
      });
    },
    { readsTarget: true },
  );
}
