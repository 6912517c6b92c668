import { FerryError } from '@ferry/errors';
import type { Endpoint } from './endpoint.js';
import type { KeyTransform } from './keys.js';
import type { ResolvedOptions } from './options.js';
import type { ShardSpec } from './plugins.js';
import type { TaskSpec } from './task-spec.js';
import type { VerificationReport, Verifier, VerifyModeName, VerifySide } from './verification.js';

export interface VerifyTaskOptions {
  mode?: VerifyModeName;
  rounds?: number;
  intervalMs?: number;
  sample?: number;
  keysPerSec?: number;
  signal?: AbortSignal;
}

/** What verifying a task's source against its target needs of the task. */
export interface VerifyTaskHost {
  spec: TaskSpec;
  options: ResolvedOptions;
  /** The task's key transforms, composed. */
  transform?: KeyTransform | undefined;
  /** The source's shards (found now when the task has not run). */
  shards: ShardSpec[] | (() => Promise<ShardSpec[]>);
  verifier?: Verifier;
  onProgress(p: { round: number; keysChecked: number; differences: number }): void;
  onDone(report: VerificationReport): void;
}

/** Compares the task's source with its target, through the engine's verifier, under the task's mapping. */
export async function verifyTask(h: VerifyTaskHost, o: VerifyTaskOptions = {}): Promise<VerificationReport> {
  const verifier = h.verifier;
  if (!verifier) throw new FerryError('CONFIG_INVALID', 'no verifier is configured for this engine');
  const t = h.spec.target;
  if (t.proxy)
    throw new FerryError(
      'CONFIG_INVALID',
      `a ${t.proxy} target cannot be scanned through the proxy: verify against its servers (ferry verify)`,
    );
  const shards = typeof h.shards === 'function' ? await h.shards() : h.shards;
  if (shards.some((s) => s.file))
    throw new FerryError(
      'CONFIG_INVALID',
      'a backup file is not a server to verify against: the task checked the target against the file when it completed (key counts per db, a sample of values); to compare every key, load the file into a server and verify against that',
    );
  const read = (s: ShardSpec): Endpoint => s.replicas[0] ?? s.primary;
  const source: VerifySide =
    h.spec.source.topology === 'cluster'
      ? { endpoint: (shards[0] as ShardSpec).primary, cluster: true }
      : shards.length === 1
        ? { endpoint: read(shards[0] as ShardSpec) }
        : { shards: shards.map(read) };
  const report = await verifier({
    source,
    target: { endpoint: t.endpoint, cluster: Boolean(t.cluster) },
    mode: o.mode ?? 'full',
    rounds: o.rounds ?? 3,
    intervalMs: o.intervalMs ?? 1000,
    ...(o.sample !== undefined ? { sample: o.sample } : {}),
    ...(o.keysPerSec !== undefined ? { keysPerSec: o.keysPerSec } : {}),
    ...(h.options.dbMap ? { dbMap: h.options.dbMap } : {}),
    ...(h.options.renamePrefix ? { renamePrefix: h.options.renamePrefix } : {}),
    filter: h.options.filter,
    ...(h.transform ? { transform: h.transform } : {}),
    reservedPrefix: h.options.reservedPrefix,
    ...(o.signal ? { signal: o.signal } : {}),
    onProgress: h.onProgress,
  });
  h.onDone(report);
  return report;
}
