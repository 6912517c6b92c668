import { mkdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isFerryError } from '@ferry/errors';
import type { ReaderSpec, ShardReader } from '@ferry/plugin-sdk';
import type { TaskCheckpoint } from './checkpoint.js';
import type { TaskEvents } from './events.js';
import type { ShardSpec } from './plugins.js';
import { ShardRunner } from './shard.js';
import type { ShardContext, WorkerTarget } from './shard-context.js';
import type { LeaseKeeper } from './task-lease.js';

/** What a task gives the runners of its shards (as each shard's context has it, and the rest). */
export interface RunnersHost
  extends Pick<
    ShardContext,
    | 'taskId'
    | 'writer'
    | 'mapper'
    | 'options'
    | 'limiter'
    | 'signal'
    | 'emit'
    | 'onStreaming'
    | 'gate'
    | 'moved'
    | 'targetOwned'
    | 'identity'
  > {
  shards: ShardSpec[];
  /** The task's spool folder (each shard has a folder of its own in it). */
  spoolDir: string;
  /** The task's checkpoints by shard (each runner updates its own), and their save. */
  checkpoint: TaskCheckpoint;
  saveCheckpoints(): Promise<void>;
  /** A topology that reads its shards itself (a backup file). */
  openReader?(shard: ShardSpec, spec: ReaderSpec): ShardReader;
  /** The task's lease now (a flush of the target removes its keys: it is taken again after). */
  lease(): LeaseKeeper | undefined;
  /** The target as a snapshot thread opens it. */
  worker: WorkerTarget;
}

/** One runner per shard, each with its spool folder, checkpoint and share of the rate limit. */
export function shardRunners(h: RunnersHost): ShardRunner[] {
  const { options: o, shards } = h;
  // a thread cannot run a plugin's function: with transforms, snapshots are written here
  const threads =
    o.transforms.length === 0 &&
    (o.snapshotThreads === 'always' ||
      (o.snapshotThreads === 'auto' && shards.length > 1 && availableParallelism() > 2));
  const t = h.worker;
  return shards.map((shard) => {
    const spoolDir = join(h.spoolDir, shard.id.replace(/[^A-Za-z0-9._-]/g, '_'));
    mkdirSync(spoolDir, { recursive: true });
    const openReader = h.openReader;
    return new ShardRunner({
      taskId: h.taskId,
      shard,
      writer: h.writer,
      mapper: h.mapper,
      options: o,
      limiter: h.limiter,
      spoolDir,
      signal: h.signal,
      loadCheckpoint: () => h.checkpoint[shard.id],
      saveCheckpoint: async (c) => {
        h.checkpoint[shard.id] = c;
        await h.saveCheckpoints();
      },
      emit: h.emit,
      onStreaming: h.onStreaming,
      gate: h.gate,
      moved: h.moved,
      ...(openReader ? { openReader: (spec: ReaderSpec) => openReader(shard, spec) } : {}),
      targetOwned: h.targetOwned,
      shardCount: shards.length,
      identity: h.identity,
      targetFlush: {
        begin: () => {
          const lease = h.lease();
          if (lease) lease.flushing++;
        },
        end: async () => {
          const lease = h.lease();
          if (!lease) return;
          await lease.acquire().finally(() => {
            lease.flushing--;
          });
        },
      },
      ...(threads
        ? {
            snapshotWorker: {
              target: t,
              forceDb0: Boolean(t.cluster || t.proxy),
              // each snapshot thread takes an equal share of the task's limit
              rate: () => {
                const { keysPerSec = 0, bytesPerSec = 0 } = h.limiter.current;
                const n = shards.length;
                return { keysPerSec: keysPerSec / n, bytesPerSec: bytesPerSec / n };
              },
            },
          }
        : {}),
    });
  });
}

/** Errors a new pass can get past (the link or a node dropped, a node was loading, a re-snapshot). */
function retryable(err: unknown): boolean {
  return (
    isFerryError(err) &&
    (err.code === 'CONNECTION_CLOSED' ||
      err.code === 'CONNECTION_FAILED' ||
      err.code === 'TIMEOUT' ||
      err.code === 'SOURCE_NOT_READY' ||
      err.code === 'RESYNC_REQUIRED')
  );
}

/** What retrying a shard needs of its task. */
export interface RetryHost {
  taskId: string;
  signal: AbortSignal;
  stopping(): boolean;
  emit<E extends keyof TaskEvents>(event: E, payload: TaskEvents[E]): void;
  /** The target lost the task's keys (a writer's fence found so). */
  targetLost(node: string): Promise<void>;
  /** Ends the task's other shards too: a task fails as a whole. */
  abort(err: unknown): void;
}

/**
 * Runs a shard's passes until it ends: a failure a new pass can get past (once the shard has
 * started) is retried from the checkpoint with a growing pause, up to 30 in a row; any other ends
 * the task.
 */
export async function runWithRetries(r: ShardRunner, h: RetryHost): Promise<void> {
  let failures = 0;
  let everStarted = false;
  for (;;) {
    try {
      await r.run(() => {
        everStarted = true;
        failures = 0;
      });
      h.emit('shard:end', { taskId: h.taskId, shardId: r.metrics.shardId });
      return;
    } catch (err) {
      if (h.stopping()) return;
      if (h.signal.aborted) throw err;
      failures++;
      if (isFerryError(err, 'RESYNC_REQUIRED') && err.details?.targetLost)
        await h.targetLost(String(err.details.node ?? '')).catch(() => undefined);
      const again = everStarted && retryable(err) && failures <= 30;
      const e = err as Error;
      h.emit('task:error', {
        taskId: h.taskId,
        shardId: r.metrics.shardId,
        code: isFerryError(err) ? err.code : 'ERROR',
        message: e.message,
        retrying: again,
      });
      if (!again) {
        h.emit('shard:end', { taskId: h.taskId, shardId: r.metrics.shardId, error: e.message });
        h.abort(err);
        throw err;
      }
      const delay = Math.min(500 * 2 ** Math.min(failures - 1, 6), 30_000);
      await sleep(delay, undefined, { signal: h.signal }).catch(() => undefined);
      if (h.stopping()) return;
    }
  }
}
