import { EventEmitter } from 'node:events';
import type { TaskState } from './state.js';

/** A shard's metrics before anything happened. */
export function newShardMetrics(shardId: string): ShardMetrics {
  return {
    shardId,
    phase: 'connecting',
    snapshotBytes: 0,
    snapshotBytesTotal: undefined,
    keys: 0,
    snapshotWriteMs: undefined,
    keysTotal: undefined,
    skippedKeys: 0,
    commands: 0,
    receivedOffset: 0,
    appliedOffset: 0,
    sourceOffset: 0,
    lagBytes: 0,
    lagMs: undefined,
    errors: {},
  };
}

export interface ShardMetrics {
  shardId: string;
  phase: 'connecting' | 'waiting-bgsave' | 'snapshot' | 'streaming' | 'done';
  /** Snapshot bytes read / total (total from the payload size, or the source's INFO estimate). */
  snapshotBytes: number;
  snapshotBytesTotal: number | undefined;
  keys: number;
  /** Time from the snapshot's first key to the last one acknowledged by the target (the write phase). */
  snapshotWriteMs: number | undefined;
  /** Keys expected (from the source's INFO keyspace at the start). */
  keysTotal: number | undefined;
  skippedKeys: number;
  commands: number;
  /** Source offset received, applied (acknowledged by the target) and the source's own. */
  receivedOffset: number;
  appliedOffset: number;
  sourceOffset: number;
  lagBytes: number;
  /**
   * When `lagBytes` was last measured against the source's own `master_repl_offset` (INFO), while
   * streaming: a lag of 0 measured after the stream began means the target has everything the
   * source had then — synced, decided from offsets, without waiting for the source's next bytes.
   */
  lagMeasuredAt?: number;
  lagMs: number | undefined;
  errors: Record<string, number>;
  /** `DEL`s of the source's slot migrations not applied (the key lives on in another shard). */
  migratedAway?: number;
  /** The snapshot was written on a thread of the shard's own (see TaskOptions.snapshotThreads). */
  snapshotThread?: boolean;
  /** Stream commands the target (a proxy) cannot take, per command: not applied, each reported. */
  unsupported?: Record<string, number>;
}

export interface TaskEvents {
  'task:state': { taskId: string; from: TaskState; to: TaskState; reason?: string };
  'shard:start': {
    taskId: string;
    shardId: string;
    mode: 'full' | 'continue' | 'sync';
    replid?: string;
    offset: number;
    resumeRefused?: string;
  };
  'shard:end': { taskId: string; shardId: string; error?: string };
  'rdb:progress': { taskId: string } & ShardMetrics;
  'stream:lag': { taskId: string } & ShardMetrics;
  'task:error': { taskId: string; shardId?: string; code: string; message: string; retrying: boolean };
  /** Things a user should know that do not stop the task (a split transaction, an unsupported command, a write-mode switch). */
  'task:warning': { taskId: string; shardId?: string; message: string; key?: string; command?: string };
  /** The check before "done": what it compared and found (see done-check.ts). */
  'task:checked': {
    taskId: string;
    forced: boolean;
    ok: boolean;
    exact: boolean;
    summary: string;
    problem?: string;
    sourceKeys: number | undefined;
    targetKeys: number | undefined;
    sampled: number;
    sampleDifferences: number;
  };
  /** The target's import mode turned on for the run, or off again at its end (see import-mode.ts). */
  'target:import-mode': { taskId: string; on: boolean; nodes: string[]; message: string };
  'verify:progress': { taskId: string; round: number; keysChecked: number; differences: number };
  'verify:done': { taskId: string; differences: number; counts: Record<string, number>; keysChecked: number };
  /** What the source topology's watcher saw (a failover followed, slots moving, shards added). */
  'topology:change': {
    taskId: string;
    kind: 'failover' | 'slots-moving' | 'shards-changed' | 'watch-error';
    shardId?: string;
    message: string;
  };
}

export type TaskEventName = keyof TaskEvents;

/** A typed EventEmitter for task events. */
export class TaskEmitter {
  private readonly ee = new EventEmitter();
  constructor() {
    this.ee.setMaxListeners(100);
  }
  on<E extends TaskEventName>(event: E, listener: (payload: TaskEvents[E]) => void): () => void {
    this.ee.on(event, listener);
    return () => this.ee.off(event, listener);
  }
  onAny(listener: <E extends TaskEventName>(event: E, payload: TaskEvents[E]) => void): () => void {
    const names: TaskEventName[] = [
      'task:state',
      'shard:start',
      'shard:end',
      'rdb:progress',
      'stream:lag',
      'task:error',
      'task:warning',
      'task:checked',
      'target:import-mode',
      'topology:change',
      'verify:progress',
      'verify:done',
    ];
    const offs = names.map((n) => this.on(n, (p) => listener(n, p)));
    return () => {
      for (const off of offs) off();
    };
  }
  emit<E extends TaskEventName>(event: E, payload: TaskEvents[E]): void {
    this.ee.emit(event, payload);
  }
}
