import { compareVersions, endpointName, rdbVersionOf, readNodes, targetNodes } from '@ferry/core';
import { defineCheck, eachNode, type Result, result } from '../util.js';

/** The newest source Ferry knows: RDB 12 is what 7.4 → 8.x write. */
export const NEWEST_SOURCE = '8.99.99';

/** Verdicts on one source/target pair of versions (pure: unit-tested for releases not installed here). */
export function judgeVersions(source: string, target: string): Result[] {
  const out: Result[] = [];
  if (compareVersions(source, '2.8.0') < 0)
    out.push(
      result('fail', `the source runs Redis ${source}: Ferry needs 2.8 or newer (PSYNC/SYNC as a replica)`, {
        advice: 'upgrade the source to 2.8+ first, or migrate it with a dump and restore',
      }),
    );
  else if (compareVersions(source, NEWEST_SOURCE) > 0)
    out.push(
      result('fail', `the source runs Redis ${source}, newer than Ferry can parse (up to 8.x, RDB 12)`, {
        advice: 'upgrade Ferry',
      }),
    );
  if (compareVersions(target, source) < 0) {
    const rdbSrc = rdbVersionOf(source);
    const rdbTgt = rdbVersionOf(target);
    out.push(
      result(
        'warn',
        `the target (Redis ${target}) is older than the source (Redis ${source})${rdbTgt < rdbSrc ? `: it refuses RESTORE payloads of RDB ${rdbSrc}, so keys are rewritten with type-specific commands (slower); commands it does not know stop the stream` : ''}`,
        {
          advice: 'prefer a target at least as new as the source; otherwise expect the rewrite path',
          details: { source, target, rdbSource: rdbSrc, rdbTarget: rdbTgt },
        },
      ),
    );
  }
  if (out.length === 0)
    out.push(
      result('pass', `source Redis ${source}, target Redis ${target}: RESTORE carries values as they are`),
    );
  return out;
}

/** The source is a version Ferry reads; the target is not older than the source. */
export function checkVersion() {
  return defineCheck(
    'version',
    'Versions',
    async (input) => {
      const targets = await targetNodes(input);
      const tv =
        (await Promise.all(targets.map((t) => input.probe.version(t)))).sort(compareVersions)[0] ?? '0.0.0';
      return eachNode(readNodes(input.shards), 'the version', async ({ shard, node }) => {
        const sv = await input.probe.version(node);
        return judgeVersions(sv, tv).map((r) => ({
          ...r,
          shardId: shard.id,
          message: input.shards.length > 1 ? `${endpointName(node)}: ${r.message}` : r.message,
        }));
      });
    },
    { readsTarget: true },
  );
}
