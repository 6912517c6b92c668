import type { ReaderSpec, ShardReader } from '@ferry/plugin-sdk';
import type { ShardCheckpoint } from './checkpoint.js';
import type { Endpoint } from './endpoint.js';
import type { TaskEvents } from './events.js';
import type { TaskIdentity } from './identity.js';
import type { KeyMapper } from './keys.js';
import type { LeaseFence } from './lease.js';
import type { RateLimiter } from './limiter.js';
import type { MovedKeys } from './moved.js';
import type { RateLimit, ResolvedOptions } from './options.js';
import type { ShardSpec } from './plugins.js';
import type { ProxyKind } from './target/proxy.js';
import type { TargetWriter } from './target/writer.js';

/** What a shard's runner is given by its task: the shard, the target, the options and the task's hooks. */
export interface ShardContext {
  taskId: string;
  shard: ShardSpec;
  writer: TargetWriter;
  mapper: KeyMapper;
  options: ResolvedOptions;
  limiter: RateLimiter;
  spoolDir: string;
  signal: AbortSignal;
  loadCheckpoint(): ShardCheckpoint | undefined;
  saveCheckpoint(c: ShardCheckpoint): Promise<void>;
  emit<E extends keyof TaskEvents>(event: E, payload: TaskEvents[E]): void;
  /** Called once the snapshot is loaded and the stream is being applied. */
  onStreaming(): void;
  /** A promise while the task is paused. */
  gate(): Promise<void> | undefined;
  /** Keys the source cluster moved between shards, shared by the task's shards. */
  moved: MovedKeys;
  /**
   * The target's mapped dbs held nothing when the task first started: whatever is in them is this
   * task's, so a snapshot written again may first remove what an earlier pass wrote.
   */
  targetOwned: boolean;
  /** How many shards the task has: with one, everything the task wrote is this shard's. */
  shardCount: number;
  /** The task's settings, recorded in every checkpoint. */
  identity: TaskIdentity;
  /**
   * Around a flush of the target (a re-snapshot's, or the source's FLUSHALL/FLUSHDB replayed): the
   * task's own keys there go too, and the task puts its lease back after it.
   */
  targetFlush?: { begin(): void; end(): Promise<void> };
  /** A target db written to for the first time (a snapshot thread tells the task's thread). */
  onWroteDb?(db: number): void;
  /** Write the snapshot on a worker thread of this shard's own, built from these parts. */
  snapshotWorker?: SnapshotWorkerSpec;
  /** Opens the shard's reader for a pass. Default: a replica of the source (ReplicationReader). */
  openReader?(spec: ReaderSpec): ShardReader;
}

/** What a snapshot worker is built from, beyond the shard's context. */
export interface SnapshotWorkerSpec {
  target: WorkerTarget;
  forceDb0: boolean;
  /** This shard's part of the task's rate limit, now. */
  rate(): RateLimit;
}

/** What `writeSnapshot` needs to know of the snapshot it writes. */
export interface SnapshotJob {
  /** RESTORE … REPLACE (a snapshot written again, or the "replace" policy). */
  replace: boolean;
  /** The payload's size when the source announced it. */
  snapshotBytes?: number;
  /** The spool file holding the payload from its first byte (a checksum thread reads it there). */
  path?: string;
  /** Called once the parser holds the spool file open (it may be removed from then on). */
  onOpened?: () => void;
}

/** The target as `TargetWriter.open` takes it, without what cannot cross threads. */
export interface WorkerTarget {
  endpoint: Endpoint;
  cluster: boolean;
  proxy?: ProxyKind;
  version?: string;
  maxKeyBytes?: number;
  maxInFlight: number;
  /** The task's lease, proved by every connection the worker opens. */
  fence?: LeaseFence;
  /** The target is in import mode: the worker's connections are its import source too. */
  importSource?: boolean;
}

/** Where a shard is read from: its first replica unless told to follow the primary. */
export function pickSource(s: ShardSpec): Endpoint {
  return (s.preferReplica === false ? undefined : s.replicas[0]) ?? s.primary;
}
