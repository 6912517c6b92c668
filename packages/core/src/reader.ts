import type { ReaderSpec, ShardReader } from '@ferry/plugin-sdk';
import { ReplicaLink, type StreamCommand, type SyncStart } from '@ferry/replication';
import type { RespConnection } from '@ferry/resp';
import { connectEndpoint, type Endpoint, endpointName } from './endpoint.js';

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
