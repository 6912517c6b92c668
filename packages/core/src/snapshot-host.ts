import type { ShardMetrics } from './events.js';
import type { OwnKeys } from './ferry-keys.js';
import type { ShardContext } from './shard-context.js';
import type { ShardNotices } from './shard-notices.js';
import type { SlotOwners } from './slot-owners.js';

/** What a snapshot writer works for: the task's thread's shard runner, or a snapshot worker thread. */
export interface SnapshotHost {
  ctx: Pick<
    ShardContext,
    'taskId' | 'shard' | 'writer' | 'mapper' | 'options' | 'limiter' | 'signal' | 'gate'
  >;
  metrics: ShardMetrics;
  own: OwnKeys;
  notices: ShardNotices;
  owners: SlotOwners;
  /** A target db written to (told before the write goes out). */
  noteDb(db: number): void;
  /** Counts a write among the pass's writes in flight, which settle before the next pass. */
  track(p: Promise<void>): void;
  /** The pass's failure from elsewhere (the link, a re-snapshot asked for): the write stops too. */
  failed?(): Error | undefined;
}
