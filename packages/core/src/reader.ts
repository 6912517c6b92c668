import { ReplicaLink, type StreamCommand, type SyncStart } from '@ferry/replication';
import type { RespConnection } from '@ferry/resp';
import { connectEndpoint, type Endpoint, endpointName } from './endpoint.js';
import type { ShardSpec } from './plugins.js';

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
  start(): Promise<SyncStart>;
  /** The snapshot's bytes, once (after a `full` or `sync` start). */
  snapshot(signal: AbortSignal): AsyncIterable<Buffer>;
  /** A file holding the snapshot from its first byte while it arrives (a snapshot thread reads it there). */
  readonly snapshotPath: string | undefined;
  /** The commands after the snapshot (or the resumed position), as they come; ends when the source has no more. */
  commandBatches(signal: AbortSignal): AsyncIterable<StreamCommand[]>;
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

/** A replica of the source: PSYNC (or SYNC), the RDB it sends, then its replication stream. */
export class ReplicationReader implements ShardReader {
  readonly name: string;
  private readonly link: ReplicaLink;
  private info: RespConnection | undefined;
  private heartbeatConn: RespConnection | undefined;

  constructor(private readonly spec: ReaderSpec) {
    const s = spec.source;
    this.name = endpointName(s);
    this.link = new ReplicaLink({
      host: s.host,
      port: s.port,
      ...(s.username ? { username: s.username } : {}),
      ...(s.password !== undefined ? { password: s.password } : {}),
      ...(s.tls ? { tls: true } : {}),
      spoolDir: spec.spoolDir,
      ...(spec.resume ? { resume: spec.resume } : {}),
      onState: (_from, to) => {
        if (to === 'waiting-bgsave') spec.onWaiting();
      },
    });
  }

  async start(): Promise<SyncStart> {
    const { spec } = this;
    const connect = (e: Endpoint) => connectEndpoint(e, spec.signal, { commandMs: 30_000 });
    this.info = await connect(spec.source);
    if (spec.heartbeat) {
      const p = spec.shard.primary;
      const same = p.host === spec.source.host && p.port === spec.source.port;
      this.heartbeatConn = same ? this.info : await connect(p);
    }
    return this.link.start();
  }

  snapshot(signal: AbortSignal): AsyncIterable<Buffer> {
    return this.link.snapshot(signal);
  }

  get snapshotPath(): string | undefined {
    return this.link.snapshotPath;
  }

  commandBatches(signal: AbortSignal): AsyncIterable<StreamCommand[]> {
    return this.link.commandBatches(signal);
  }

  get offset(): number {
    return this.link.offset;
  }

  async sourceOffset(): Promise<number | undefined> {
    if (!this.info?.open) return undefined;
    const text = String(await this.info.send(['INFO', 'replication']));
    const off = /master_repl_offset:(\d+)/.exec(text);
    return off ? Number(off[1]) : undefined;
  }

  async snapshotSizeEstimate(): Promise<number> {
    const text = String(await this.info?.send(['INFO', 'memory']).catch(() => ''));
    const m = /^used_memory_dataset:(\d+)/m.exec(text) ?? /^used_memory:(\d+)/m.exec(text);
    return m ? Number(m[1]) : 0;
  }

  async keyCounts(): Promise<Map<number, number> | undefined> {
    if (!this.info?.open) return undefined;
    const text = String(await this.info.send(['INFO', 'keyspace']));
    const out = new Map<number, number>();
    for (const m of text.matchAll(/^db(\d+):keys=(\d+)/gm)) out.set(Number(m[1]), Number(m[2]));
    return out;
  }

  async heartbeat(key: Buffer, value: number): Promise<void> {
    if (this.heartbeatConn?.open) await this.heartbeatConn.send(['SET', key, value, 'PX', 60_000]);
  }

  close(): void {
    this.link.close();
  }

  cleanup(): void {
    this.link.close();
    this.link.cleanup();
    this.info?.destroy();
    this.heartbeatConn?.destroy();
  }
}
