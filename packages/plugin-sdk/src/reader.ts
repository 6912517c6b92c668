import type { Endpoint } from './endpoint.js';
import type { ShardSpec } from './shard.js';

/**
 * How a reader opened the source: a snapshot to write from the start of a history (`full`; `sync`
 * for a server that has no replication ids), or commands after the position asked for (`continue`).
 * The replica link's own start (`@ferry/replication`) has this shape.
 */
export type ReaderStart =
  | {
      mode: 'full';
      replid: string;
      /** The position the snapshot corresponds to; the first command comes just after it. */
      offset: number;
      diskless: boolean;
      /** The snapshot's size, when the source said it. */
      snapshotBytes?: number;
      /** Set when a resume was asked for and the source answered with a snapshot instead. */
      resumeRefused?: string;
    }
  | { mode: 'continue'; replid: string; offset: number }
  /** A server without replication ids (before PSYNC): positions count from the snapshot's end. */
  | { mode: 'sync'; replid: undefined; offset: 0; diskless: boolean; snapshotBytes?: number };

/** One command a reader yields, with the position just past it. */
export interface ReaderCommand {
  argv: Buffer[];
  offset: number;
  /** The command's bytes as the source sent them, when the reader has them (forwarded as they are). */
  raw?: Buffer;
}

/**
 * Where a shard's data comes from: a snapshot at a position, then commands each with the position
 * just past it. The shard runner writes what a reader yields and records positions in its
 * checkpoints; it never asks how the data arrived. Today's reader is a replica of the source
 * (`ReplicationReader`); a backup file is another.
 */
export interface ShardReader {
  /** A name for messages ("127.0.0.1:6379"). */
  readonly name: string;
  /** Opens the source: a snapshot to write (`full`, `sync`), or commands after `resume` (`continue`). */
  start(): Promise<ReaderStart>;
  /** The snapshot's bytes, once (after a `full` or `sync` start). */
  snapshot(signal: AbortSignal): AsyncIterable<Buffer>;
  /** A file holding the snapshot from its first byte while it arrives (a snapshot thread reads it there). */
  readonly snapshotPath: string | undefined;
  /** The snapshot is read where it lies (a backup file): nothing of it goes to the spool folder. */
  readonly inPlace?: boolean;
  /** The commands after the snapshot (or the resumed position), as they come; ends when the source has no more. */
  commandBatches(signal: AbortSignal): AsyncIterable<ReaderCommand[]>;
  /** The position read so far. */
  readonly offset: number;
  /** The source's own position now, when it can be asked (the lag is measured against it). */
  sourceOffset(): Promise<number | undefined>;
  /** About how many bytes the snapshot needs in the spool folder, when the start did not say. */
  snapshotSizeEstimate(): Promise<number>;
  /** The keys the source holds now per source db, when it can say (the snapshot's progress). */
  keyCounts(): Promise<Map<number, number> | undefined>;
  /** Writes the heartbeat key on the source (it comes back in the commands), where the reader can. */
  heartbeat?(key: Buffer, value: number): Promise<void>;
  /** Ends reading (a pending read ends at once). */
  close(): void;
  /** Frees what reading held (spool files, connections). */
  cleanup(): void;
}

/** What a reader is opened with: the shard, where to spool, and the position to resume after. */
export interface ReaderSpec {
  shard: ShardSpec;
  /** The node to read from (a replica unless the shard says otherwise). */
  source: Endpoint;
  spoolDir: string;
  signal: AbortSignal;
  /** Continue after this position of this history, when the source still has it. */
  resume?: { replid: string; offset: number };
  /** Writes the source heartbeat (on the primary: a replica is read-only). */
  heartbeat: boolean;
  /** The reader is waiting for the source's snapshot to be made. */
  onWaiting(): void;
}
