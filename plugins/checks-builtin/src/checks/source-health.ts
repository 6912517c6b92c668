import { endpointName, readNodes } from '@ferry/core';
import { defineCheck, eachNode, type Result, result } from '../util.js';

/**
 * The node Ferry reads from is ready for a full sync: not loading, its last BGSAVE succeeded, not
 * in the middle of a fork; and a primary is not used when it has replicas Ferry could read instead.
 */
export function checkSourceHealth() {
  return defineCheck('source-health', 'Source health', async (input) =>
    eachNode(readNodes(input.shards), 'the source’s health', async ({ shard, node }) => {
      const name = `source ${endpointName(node)}`;
      const persistence = await input.probe.info(node, 'persistence');
      const replication = await input.probe.info(node, 'replication');
      const out: Result[] = [];
      const s = { shardId: shard.id };
      if (persistence.loading === '1')
        out.push(
          result('fail', `${name} is loading its dataset into memory`, {
            ...s,
            advice: 'wait until INFO persistence shows loading:0, then run the precheck again',
          }),
        );
      if (persistence.rdb_last_bgsave_status === 'err')
        out.push(
          result(
            'fail',
            `${name}: its last BGSAVE failed, so the full sync Ferry needs would likely fail too`,
            {
              ...s,
              advice:
                'look at the server log for the failed BGSAVE (disk full, fork refused, vm.overcommit_memory) and fix it',
            },
          ),
        );
      const forking =
        persistence.rdb_bgsave_in_progress === '1' || persistence.aof_rewrite_in_progress === '1';
      if (forking)
        out.push(
          result(
            'warn',
            `${name} is in the middle of a fork (${persistence.rdb_bgsave_in_progress === '1' ? 'BGSAVE' : 'AOF rewrite'}): the sync waits for it, and memory is under copy-on-write pressure`,
            { ...s, advice: 'start the migration once the fork has finished' },
          ),
        );
      const replicas = Number(replication.connected_slaves ?? 0);
      if (replication.role === 'master' && shard.replicas.length === 0 && replicas > 0) {
        const names = Object.entries(replication)
          .filter(([k]) => /^slave\d+$/.test(k))
          .map(([, v]) => {
            const ip = /ip=([^,]+)/.exec(v)?.[1];
            const port = /port=(\d+)/.exec(v)?.[1];
            return ip && port ? `${ip}:${port}` : v;
          });
        out.push(
          result(
            'warn',
            `${name} is a primary with ${replicas} replica(s) (${names.join(', ')}): Ferry would make the primary fork for its snapshot`,
            {
              ...s,
              advice:
                'give a replica as a source node too (--source-node host:port): Ferry reads from it, the primary serves its clients undisturbed',
              details: { replicas: names },
            },
          ),
        );
      }
      if (out.length === 0)
        out.push(
          result(
            'pass',
            `${name} is ready (${replication.role === 'slave' ? 'a replica' : 'the primary'}, not loading, last BGSAVE ok)`,
            s,
          ),
        );
      return out;
    }),
  );
}
