import {
  compareVersions,
  endpointName,
  RDB_VERSION_MAX,
  readNodes,
  type ServerIdentity,
  serverIdentity,
  targetNodes,
  VALKEY_RDB_VERSIONS,
} from '@ferry/core';
import { defineCheck, eachNode, type Result, result } from '../util.js';

/** The newest Redis source Ferry reads: RDB 15 is what 8.10 writes (8.12 writes a newer one). */
export const NEWEST_SOURCE = '8.11.99';

/** A server given by its Redis version alone (INFO's redis_version). */
function asIdentity(s: string | ServerIdentity): ServerIdentity {
  return typeof s === 'string' ? serverIdentity({ redis_version: s }) : s;
}

/**
 * Verdicts on one source/target pair (pure: unit-tested for releases not installed here). Each
 * side is a server's identity (product, its version, the RDB it writes and takes), or a Redis
 * version.
 */
export function judgeVersions(source: string | ServerIdentity, target: string | ServerIdentity): Result[] {
  const src = asIdentity(source);
  const tgt = asIdentity(target);
  const out: Result[] = [];
  const details = {
    source: src.label,
    target: tgt.label,
    sourceRdb: `${src.writes.magic} ${src.writes.version}`,
    targetRestore: tgt.restoreAccepts,
  };
  if (src.product === 'redis' && compareVersions(src.version, '2.8.0') < 0)
    out.push(
      result(
        'fail',
        `the source runs Redis ${src.version}: Ferry needs 2.8 or newer (PSYNC/SYNC as a replica)`,
        {
          advice: 'upgrade the source to 2.8+ first, or migrate it with a dump and restore',
        },
      ),
    );
  else if (src.writes.magic === 'VALKEY' && !VALKEY_RDB_VERSIONS.includes(src.writes.version))
    // Ferry announces Valkey 9.0 (REPLCONF version), so a newer Valkey sends it VALKEY080
    out.push(
      result(
        'warn',
        `the source runs ${src.label}, whose own RDB format (VALKEY${String(src.writes.version).padStart(3, '0')}) this Ferry does not read: it announces Valkey 9.0 and is sent VALKEY080, which it reads`,
        {
          advice:
            'nothing to do if the sync starts; a source that cannot send VALKEY080 fails the sync with its own message',
          details,
        },
      ),
    );
  else if (src.writes.magic === 'REDIS' && src.writes.version > RDB_VERSION_MAX)
    out.push(
      result(
        'fail',
        `the source runs ${src.label}, which writes RDB ${src.writes.version}: newer than Ferry can parse (up to RDB ${RDB_VERSION_MAX}: Redis 8.10; and Valkey's VALKEY080: Valkey 9.0 and 9.1)`,
        { advice: 'upgrade Ferry, or migrate from a replica running an older release', details },
      ),
    );
  // Valkey 9 into Valkey 9: its own format goes by RESTORE
  if (src.writes.magic === 'VALKEY' && (tgt.restoreAcceptsValkey ?? 0) < src.writes.version) {
    out.push(
      result(
        'warn',
        `the source (${src.label}) sends Valkey's own format (VALKEY080), which the RESTORE of ${tgt.label} does not take: keys are rewritten with type-specific commands (slower)${tgt.product === 'valkey' && compareVersions(tgt.version, '9.0.0') >= 0 ? '' : tgt.product === 'redis' && compareVersions(tgt.version, '7.4.0') >= 0 ? '' : '; hash fields keep their TTLs only on Redis 7.4+ or Valkey 9.0+, so here they are written without them'}`,
        {
          advice: 'prefer a Valkey 9 target; otherwise expect the rewrite path',
          details,
        },
      ),
    );
  } else if (src.writes.magic === 'REDIS' && tgt.restoreAccepts < src.writes.version) {
    if (src.writes.version >= 14 && tgt.restoreAccepts < 14)
      out.push(
        result(
          'warn',
          `the source (${src.label}) may hold keys of the ARRAY type and stream entries given back with XNACK, which ${tgt.label} cannot hold: an ARRAY is not written (each is named), XNACKed entries are not pending on the target, and the check at the end finds either difference (it does not call such a task done)`,
          {
            advice:
              "migrate to Redis 8.8 or newer to keep them; leave ARRAY keys out with --filter '!<pattern>' to complete without them",
            details,
          },
        ),
      );
    const older = src.product === tgt.product && compareVersions(tgt.version, src.version) < 0;
    out.push(
      result(
        'warn',
        `the target (${tgt.label}) ${older ? `is older than the source (${src.label})` : `takes RESTORE payloads up to RDB ${tgt.restoreAccepts}, and the source (${src.label}) writes RDB ${src.writes.version}`}: it refuses RESTORE payloads of RDB ${src.writes.version}, so keys are rewritten with type-specific commands (slower); commands it does not know stop the stream`,
        {
          advice: 'prefer a target at least as new as the source; otherwise expect the rewrite path',
          details,
        },
      ),
    );
  } else if (src.product === tgt.product && compareVersions(tgt.version, src.version) < 0)
    out.push(
      result('warn', `the target (${tgt.label}) is older than the source (${src.label})`, {
        advice: 'prefer a target at least as new as the source: commands it does not know stop the stream',
        details,
      }),
    );
  if (out.length === 0)
    out.push(
      result('pass', `source ${src.label}, target ${tgt.label}: RESTORE carries values as they are`, {
        details,
      }),
    );
  return out;
}

/** The source is a server and format Ferry reads; the target takes what the source writes. */
export function checkVersion() {
  return defineCheck(
    'version',
    'Versions',
    async (input) => {
      const targets = await targetNodes(input);
      const ids = await Promise.all(targets.map((t) => input.probe.identity(t)));
      // the most restrictive master decides
      const tgt = ids.sort((a, b) => a.restoreAccepts - b.restoreAccepts)[0];
      return eachNode(readNodes(input.shards), 'the version', async ({ shard, node }) => {
        const src = await input.probe.identity(node);
        return judgeVersions(src, tgt ?? src).map((r) => ({
          ...r,
          shardId: shard.id,
          message: input.shards.length > 1 ? `${endpointName(node)}: ${r.message}` : r.message,
        }));
      });
    },
    { readsTarget: true },
  );
}
