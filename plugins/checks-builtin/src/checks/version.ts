import {
  compareVersions,
  endpointName,
  RDB_VERSION_MAX,
  readNodes,
  type ServerIdentity,
  serverIdentity,
  targetNodes,
} from '@ferry/core';
import { defineCheck, eachNode, type Result, result } from '../util.js';

/** The newest Redis source Ferry reads: RDB 12 is what 7.4 → 8.4 write (8.6 writes RDB 13). */
export const NEWEST_SOURCE = '8.5.99';

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
  else if (src.writes.magic === 'VALKEY')
    // a Valkey 9 primary picks the format it sends from the replica's REPLCONF version; Ferry
    // announces none, so it gets RDB 11 — which cannot carry hash fields' TTLs
    out.push(
      result(
        'warn',
        `the source runs ${src.label}, whose own RDB format (VALKEY${src.writes.version}) this Ferry does not read: it is sent RDB 11 instead, in which a hash with field TTLs cannot be written (the source aborts the sync)`,
        {
          advice:
            'check that no hash on the source has field TTLs (HEXPIRE), or migrate from a replica running Valkey 8',
          details,
        },
      ),
    );
  else if (src.writes.version > RDB_VERSION_MAX)
    out.push(
      result(
        'fail',
        `the source runs ${src.label}, which writes RDB ${src.writes.version}: newer than Ferry can parse (up to RDB ${RDB_VERSION_MAX}: Redis 8.4, Valkey 8)`,
        { advice: 'upgrade Ferry, or migrate from a replica running an older release', details },
      ),
    );
  if (src.writes.magic === 'REDIS' && tgt.restoreAccepts < src.writes.version) {
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
