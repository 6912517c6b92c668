import { checkDone, type DoneCheckResult } from './done-check.js';
import { OwnKeys } from './ferry-keys.js';
import { checkAofDone, checkFileDone } from './file-done-check.js';
import { type KeyMapper, targetDbs } from './keys.js';
import type { ResolvedOptions } from './options.js';
import type { ShardSpec } from './plugins.js';
import type { ShardRunner } from './shard.js';
import type { TargetWriter } from './target/writer.js';
import type { TaskSpec } from './task-spec.js';
import type { Verifier } from './verification.js';

/** What the check before "done" reads of its task. */
export interface TaskDoneHost {
  taskId: string;
  spec: TaskSpec;
  options: ResolvedOptions;
  shards: ShardSpec[];
  runners: ShardRunner[];
  writer: TargetWriter;
  mapper: KeyMapper;
  targetOwned: boolean;
  verifier: Verifier | undefined;
  signal: AbortSignal;
}

/**
 * Before "done": the target against the source, now — a server source by key counts per mapped db
 * and a sample of values (done-check.ts), RDB files read again and compared likewise, an AOF by
 * every command applied (file-done-check.ts). A proxy target cannot count its keys: said, not claimed.
 */
export async function checkTaskDone(h: TaskDoneHost): Promise<DoneCheckResult> {
  const { writer: w, mapper, runners } = h;
  if (w.proxy)
    return {
      ok: true,
      exact: false,
      sourceKeys: undefined,
      targetKeys: undefined,
      expired: 0,
      perDb: [],
      sampled: 0,
      sampleDifferences: 0,
      summary: `not compared: a ${w.proxy} target cannot count its keys (run ferry verify against its servers)`,
    };
  const dbs = targetDbs(mapper, w.cluster);
  const files = h.shards.flatMap((s) => (s.file ? [s.file] : []));
  if (files.some((f) => f.format === 'aof'))
    return checkAofDone({
      shards: runners.map((r) => ({
        name: r.name,
        appliedOffset: r.metrics.appliedOffset,
        sourceOffset: r.metrics.sourceOffset,
      })),
      writer: w,
      targetDbs: dbs,
    });
  const common = {
    writer: w,
    mapper,
    targetDbs: dbs,
    ...(runners.every((r) => r.writtenDbs)
      ? { wroteDbs: new Set(runners.flatMap((r) => [...(r.writtenDbs ?? [])])) }
      : {}),
    targetOwned: h.targetOwned,
    reservedPrefix: h.options.reservedPrefix,
    ...(h.verifier ? { verifier: h.verifier } : {}),
    signal: h.signal,
  };
  if (files.length > 0) return checkFileDone({ ...common, files: files.map((f) => f.path) });
  const own = h.options.sourceHeartbeat ? [new OwnKeys(h.options.reservedPrefix).heartbeat(h.taskId)] : [];
  return checkDone({
    ...common,
    shards: runners.map((r) => ({
      name: r.metrics.shardId,
      endpoint: r.sourceEndpoint,
      appliedOffset: r.metrics.appliedOffset,
    })),
    sourceOwnKeys: (db) => (db === 0 ? own : []),
    sourceCluster: h.spec.source.topology === 'cluster',
  });
}
