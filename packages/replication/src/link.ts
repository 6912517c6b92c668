import type { Socket } from 'node:net';
import { join } from 'node:path';
import { FerryError } from '@ferry/errors';
import { type ConnectOptions, connect, encodeCommand, ReplyError } from '@ferry/resp';
import { handshakeError, readLine } from './handshake.js';
import { CommandScanner } from './scanner.js';
import { prepareSpoolDir, SpoolFile, spoolDiskUsage } from './spool.js';

/** Where a replica link is, named after what is happening (RedisShake's kHandShake… in our words). */
export type LinkState =
  | 'connecting'
  | 'handshake'
  | 'waiting-bgsave'
  | 'receiving-rdb'
  | 'streaming'
  | 'closed';

/** The server version Ferry announces to a source (REPLCONF version): the RDB formats it reads. */
export const ANNOUNCED_VERSION = '9.0.0';

export interface ReplicaLinkOptions
  extends Omit<ConnectOptions, 'protocol' | 'db' | 'maxInFlight' | 'onPush'> {
  /** Folder for the snapshot and stream spool files. */
  spoolDir: string;
  /** Resume from this point: PSYNC <replid> <offset + 1>; `offset` is the last byte already applied. */
  resume?: { replid: string; offset: number };
  /** Port announced with REPLCONF listening-port (shown in the source's INFO). Default 0. */
  listeningPort?: number;
  /** REPLCONF ACK period. Default 1000 ms. */
  ackIntervalMs?: number;
  /** Fail when the source sends nothing for this long (it PINGs every repl-ping-replica-period, 10 s). Default 60 s. */
  timeoutMs?: number;
  /** Stream spool files are rotated at this size. Default 64 MB. */
  segmentBytes?: number;
  /** Called on each state change. */
  onState?: (from: LinkState, to: LinkState) => void;
}

export type SyncStart =
  | {
      mode: 'full';
      replid: string;
      /** Source offset the snapshot corresponds to; the stream's first byte is offset + 1. */
      offset: number;
      diskless: boolean;
      /** Payload size when the source said it ($<len>); undefined for diskless. */
      snapshotBytes?: number;
      /** Set when a resume was asked for and the source answered with a full resync. */
      resumeRefused?: string;
    }
  | { mode: 'continue'; replid: string; offset: number }
  /** A pre-PSYNC server (or PSYNC refused but SYNC allowed): offsets count from the stream start. */
  | { mode: 'sync'; replid: undefined; offset: 0; diskless: boolean; snapshotBytes?: number };

export interface StreamCommand {
  argv: Buffer[];
  /** Source replication offset just past this command. */
  offset: number;
  /** The command's bytes as the source sent them, when they lie in one read (to forward without re-encoding). */
  raw?: Buffer;
}

const EOF_MARK_LEN = 40;

/**
 * The replica side of Redis replication for one source node. `start()` runs the handshake and PSYNC
 * (SYNC for old servers); from then on everything the source sends is written to spool files as it
 * arrives, whatever the consumer's pace. `snapshot()` reads the RDB payload (full sync), `commands()`
 * the command stream with each command's end offset; `REPLCONF ACK` goes out every second and
 * `REPLCONF GETACK` is answered.
 */
export class ReplicaLink {
  state: LinkState = 'connecting';
  /** The source's replication id (changes on failover with psync2). */
  replid: string | undefined;
  private socket: Socket | undefined;
  private snapshotFile: SpoolFile | undefined;
  /** How the last full transfer was asked for, and whether it came diskless (they decide the ACKs). */
  private syncMode: 'psync' | 'sync' = 'psync';
  private payloadDiskless = false;
  private readonly segments: Array<{ file: SpoolFile; start: number }> = [];
  private receivedOffset = 0;
  private streamBytes = 0;
  private streamBase = 0;
  private readonly scanner = new CommandScanner(false);
  private timers: NodeJS.Timeout[] = [];
  private lastData = Date.now();
  private failure: Error | undefined;
  private snapshotId = 0;
  private readonly segmentBytes: number;
  readonly name: string;

  constructor(private readonly options: ReplicaLinkOptions) {
    this.name = `${options.host}:${options.port}`;
    this.segmentBytes = options.segmentBytes ?? 64 << 20;
    prepareSpoolDir(options.spoolDir);
  }

  private setState(to: LinkState): void {
    const from = this.state;
    if (from === to) return;
    this.state = to;
    this.options.onState?.(from, to);
  }

  /** Bytes of the source's stream received and spooled (as a source offset). */
  get offset(): number {
    return this.receivedOffset;
  }

  /** The folder this link spools to. */
  get spoolDir(): string {
    return this.options.spoolDir;
  }

  /** Disk used by this link's spool files. */
  diskUsage(): number {
    return spoolDiskUsage(this.options.spoolDir);
  }

  /** Handshake and PSYNC; resolves once the source said how it will sync (payload and stream follow). */
  async start(): Promise<SyncStart> {
    const o = this.options;
    const conn = await connect({ ...o, connectTimeoutMs: o.connectTimeoutMs ?? 10_000 });
    this.setState('handshake');
    try {
      try {
        await conn.send(['PING']);
      } catch (err) {
        if (err instanceof ReplyError && err.kind === 'NOAUTH') {
          throw new FerryError('AUTH_FAILED', `source ${this.name} requires a password (NOAUTH)`, {
            cause: err,
          });
        }
        if (err instanceof ReplyError && err.kind === 'NOPERM') {
          throw new FerryError(
            'SYNC_NOT_PERMITTED',
            `the user cannot even PING ${this.name}: ${err.message}`,
            { cause: err },
          );
        }
        throw err;
      }
      // Both are optional to the source: servers before 2.8.18 reject "capa" (and older ones the
      // listening port) with an error that must not stop the handshake (replication.c does the same).
      await conn.send(['REPLCONF', 'listening-port', String(o.listeningPort ?? 0)]).catch(() => undefined);
      await conn.send(['REPLCONF', 'capa', 'eof', 'capa', 'psync2']).catch(() => undefined);
      // A Valkey 9 primary picks the RDB it sends from the replica's announced version (RDB 11
      // without one, which cannot hold hash fields' TTLs: it aborts the sync on such a hash).
      // Ferry reads what Valkey 9.0 reads (VALKEY080); Redis does not know the option and says so.
      await conn.send(['REPLCONF', 'version', ANNOUNCED_VERSION]).catch(() => undefined);
    } catch (err) {
      conn.destroy();
      throw err;
    }
    const { socket, rest } = conn.detach();
    this.socket = socket;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 30_000);

    const resume = o.resume;
    const psync = resume ? ['PSYNC', resume.replid, String(resume.offset + 1)] : ['PSYNC', '?', '-1'];
    let reply = await this.exchange(encodeCommand(psync), rest);
    let mode: 'psync' | 'sync' = 'psync';
    if (reply.line.startsWith('-')) {
      const msg = reply.line.slice(1);
      if (/^ERR unknown command/i.test(msg)) {
        // before 2.8 there is only SYNC (and a renamed PSYNC looks the same)
        reply = await this.exchange(encodeCommand(['SYNC']), reply.rest);
        this.setState('waiting-bgsave');
        mode = 'sync';
        if (reply.line.startsWith('-')) throw handshakeError(this.name, reply.line.slice(1), true);
      } else throw handshakeError(this.name, msg, false);
    }

    const line = reply.line;
    let start: SyncStart;
    let afterReply = reply.rest;
    if (mode === 'psync' && line.startsWith('+CONTINUE')) {
      const newId = line.split(' ')[1];
      this.replid = newId && newId.length === 40 ? newId : resume?.replid;
      const base = resume?.offset ?? 0;
      this.streamBase = base;
      this.receivedOffset = base;
      this.syncMode = 'psync';
      start = { mode: 'continue', replid: this.replid ?? '', offset: base };
      this.beginStream(afterReply);
      return start;
    }
    let replid: string | undefined;
    let offset = 0;
    if (mode === 'psync') {
      const m = /^\+FULLRESYNC ([0-9a-fA-F?]{40}|\?) (-?\d+)$/.exec(line);
      if (!m)
        throw new FerryError(
          'PROTOCOL_ERROR',
          `unexpected answer to PSYNC from ${this.name}: ${JSON.stringify(line)}`,
        );
      replid = m[1];
      offset = Number(m[2]);
      // the payload header follows, possibly after newline keep-alives (BGSAVE in progress)
      this.setState('waiting-bgsave');
      const header = await this.readLine(afterReply);
      afterReply = header.rest;
      reply = { line: header.line, rest: header.rest };
    }
    this.replid = replid;
    const payloadHeader = reply.line;
    const eof = /^\$EOF:(.{40})$/s.exec(payloadHeader);
    const sized = /^\$(\d+)$/.exec(payloadHeader);
    if (!eof && !sized)
      throw new FerryError(
        'PROTOCOL_ERROR',
        `unexpected payload header from ${this.name}: ${JSON.stringify(payloadHeader.slice(0, 80))}`,
      );
    this.streamBase = offset;
    this.receivedOffset = offset;
    const diskless = Boolean(eof);
    this.syncMode = mode;
    this.payloadDiskless = diskless;
    const snapshotBytes = sized ? Number(sized[1]) : undefined;
    this.snapshotFile = new SpoolFile(
      join(o.spoolDir, `snapshot-${process.pid}-${Date.now()}-${this.snapshotId++}.rdb`),
    );
    this.setState('receiving-rdb');
    this.receivePayload(afterReply, eof ? Buffer.from(eof[1] ?? '', 'latin1') : undefined, snapshotBytes);
    if (mode === 'sync')
      start = {
        mode: 'sync',
        replid: undefined,
        offset: 0,
        diskless,
        ...(snapshotBytes !== undefined ? { snapshotBytes } : {}),
      };
    else {
      start = {
        mode: 'full',
        replid: replid ?? '',
        offset,
        diskless,
        ...(snapshotBytes !== undefined ? { snapshotBytes } : {}),
        ...(resume
          ? {
              resumeRefused: `the source no longer has offset ${resume.offset + 1} of ${resume.replid} (backlog overrun, restart or another replication id)`,
            }
          : {}),
      };
    }
    return start;
  }

  /** Sends `request` and reads one reply line, skipping the newlines a source sends to keep us alive. */
  private exchange(request: Buffer, rest: Buffer): Promise<{ line: string; rest: Buffer }> {
    this.socket?.write(request);
    return this.readLine(rest);
  }

  private readLine(pending: Buffer): Promise<{ line: string; rest: Buffer }> {
    return readLine(this.socket, pending, this.name, this.options.timeoutMs ?? 60_000);
  }

  private receivePayload(first: Buffer, eofMark: Buffer | undefined, size: number | undefined): void {
    const socket = this.socket as Socket;
    const file = this.snapshotFile as SpoolFile;
    let remaining = size ?? 0;
    let tail = Buffer.alloc(0); // diskless: bytes that may be the start of the end mark
    const onChunk = (chunk: Buffer): void => {
      this.lastData = Date.now();
      if (this.state !== 'receiving-rdb') {
        this.onStream(chunk);
        return;
      }
      if (!eofMark) {
        const take = Math.min(remaining, chunk.length);
        if (take > 0) file.append(chunk.subarray(0, take));
        remaining -= take;
        if (remaining === 0) {
          file.finish();
          this.beginStreaming();
          if (take < chunk.length) this.onStream(chunk.subarray(take));
        }
        return;
      }
      // Diskless: the source sends nothing after the end mark until we ACK (replication.c puts a
      // diskless replica online only on its first REPLCONF ACK), so the mark is always the last 40
      // bytes received. Only those are compared and held back: no search through, and no copy of,
      // the payload.
      let data = chunk;
      if (chunk.length >= EOF_MARK_LEN) {
        if (tail.length > 0) file.append(tail);
      } else if (tail.length > 0) data = Buffer.concat([tail, chunk]);
      if (data.length >= EOF_MARK_LEN && eofMark.equals(data.subarray(data.length - EOF_MARK_LEN))) {
        if (data.length > EOF_MARK_LEN) file.append(data.subarray(0, data.length - EOF_MARK_LEN));
        file.finish();
        this.beginStreaming();
        return;
      }
      const keep = Math.min(EOF_MARK_LEN, data.length);
      if (data.length > keep) file.append(data.subarray(0, data.length - keep));
      tail = Buffer.from(data.subarray(data.length - keep));
    };
    this.attach(onChunk);
    if (first.length > 0) onChunk(first);
    socket.resume();
  }

  private beginStream(first: Buffer): void {
    this.beginStreaming();
    this.attach((chunk) => {
      this.lastData = Date.now();
      this.onStream(chunk);
    });
    if (first.length > 0) this.onStream(first);
    this.socket?.resume();
  }

  private beginStreaming(): void {
    this.setState('streaming');
    this.newSegment();
    // As replication.c (readSyncBulkPayload, replicationCron): an ACK at once after a diskless
    // transfer, then one every second, but only to a source that speaks PSYNC. A SYNC-only source
    // (before 2.8) knows no REPLCONF and would answer it *into the stream*; one whose PSYNC is merely
    // renamed still needs that first ACK after a diskless transfer to start streaming.
    if (this.syncMode === 'sync' && !this.payloadDiskless) return;
    // After a diskless transfer the source holds the stream back until an ACK, buffering it against
    // the replica output-buffer limit. An ACK that arrives before the source has reaped its RDB child
    // (serverCron, up to 100 ms later) is ignored, so repeat it every 50 ms until the stream flows.
    this.sendAck();
    const early = setInterval(() => {
      if (this.streamBytes > 0 || this.state !== 'streaming') clearInterval(early);
      else this.sendAck();
    }, 50);
    early.unref();
    this.timers.push(early);
    if (this.syncMode === 'sync') return;
    const ackEvery = this.options.ackIntervalMs ?? 1000;
    const ack = setInterval(() => this.sendAck(), ackEvery);
    ack.unref();
    this.timers.push(ack);
  }

  private attach(onChunk: (chunk: Buffer) => void): void {
    const socket = this.socket as Socket;
    // a chunk that cannot be spooled (the disk is full) ends the link with that error, never the process
    socket.on('data', (chunk: Buffer) => {
      try {
        onChunk(chunk);
      } catch (err) {
        this.fail(err instanceof Error ? err : new Error(String(err)));
      }
    });
    socket.once('close', () =>
      this.fail(
        new FerryError(
          'CONNECTION_CLOSED',
          `replication link to ${this.name} closed at offset ${this.receivedOffset}`,
        ),
      ),
    );
    socket.once('error', (err) =>
      this.fail(
        new FerryError('CONNECTION_CLOSED', `replication link to ${this.name} failed: ${err.message}`, {
          cause: err,
        }),
      ),
    );
    const timeoutMs = this.options.timeoutMs ?? 60_000;
    const watchdog = setInterval(
      () => {
        if (Date.now() - this.lastData > timeoutMs) {
          this.fail(
            new FerryError(
              'TIMEOUT',
              `${this.name} sent nothing for ${timeoutMs} ms (it pings every 10 s): link considered dead`,
            ),
          );
        }
      },
      Math.min(timeoutMs, 5000),
    );
    watchdog.unref();
    this.timers.push(watchdog);
  }

  private newSegment(): void {
    const file = new SpoolFile(
      join(this.options.spoolDir, `stream-${process.pid}-${this.receivedOffset}-${Date.now()}.aof`),
    );
    this.segments.at(-1)?.file.finish();
    this.segments.push({ file, start: this.receivedOffset });
  }

  /** Stream bytes: spooled at once; parsed only to keep offsets and answer GETACK. */
  private onStream(chunk: Buffer): void {
    const seg = this.segments.at(-1);
    if (!seg) return;
    this.streamBytes += chunk.length;
    seg.file.append(chunk);
    try {
      this.scanner.feed(chunk, (_argv, _raw, _start, end, getAck) => {
        // Redis acks GETACK with its offset before the GETACK itself (reploff moves after the command)
        if (getAck) this.sendAck(this.receivedOffset);
        this.receivedOffset = this.streamBase + end;
      });
    } catch (err) {
      this.fail(err as Error);
      return;
    }
    if (seg.file.bytes >= this.segmentBytes && this.scanner.pending === 0) this.newSegment();
  }

  private sendAck(offset = this.receivedOffset): void {
    if (this.state !== 'streaming' || !this.socket || this.socket.destroyed) return;
    this.socket.write(encodeCommand(['REPLCONF', 'ACK', String(offset)]));
  }

  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    this.snapshotFile?.fail(err);
    for (const s of this.segments) s.file.fail(err);
    this.shutdown();
  }

  private shutdown(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.socket?.destroy();
    this.setState('closed');
  }

  /**
   * The snapshot's spool file while it exists: it holds the RDB payload from its first byte, as
   * snapshot() yields it (a parser's checksum thread reads it there).
   */
  get snapshotPath(): string | undefined {
    return this.snapshotFile?.path;
  }

  /** The RDB payload as it arrives; the spool file is removed once read to the end. */
  async *snapshot(signal?: AbortSignal): AsyncGenerator<Buffer> {
    const file = this.snapshotFile;
    if (!file)
      throw new FerryError('PROTOCOL_ERROR', `no snapshot: ${this.name} continued the stream (no full sync)`);
    try {
      // the parser pays per chunk: take the snapshot in pieces of 256 KB or more as it arrives
      yield* file.read(1 << 20, signal, { minBytes: 256 << 10, maxWaitMs: 20 });
    } finally {
      file.remove();
    }
  }

  /**
   * The command stream in batches (whatever the spool holds at each read, up to 1 MB), each command
   * with the source offset just past it. Segments are removed as they are read. Ends with the link's
   * error when the connection fails.
   */
  async *commandBatches(signal?: AbortSignal): AsyncGenerator<StreamCommand[]> {
    const scanner = new CommandScanner(true);
    let index = 0;
    while (!signal?.aborted) {
      while (index >= this.segments.length) {
        if (this.failure) throw this.failure;
        await new Promise((r) => setTimeout(r, 10));
      }
      const seg = this.segments[index] as { file: SpoolFile; start: number };
      const base = this.streamBase;
      let out: StreamCommand[] = [];
      for await (const chunk of seg.file.read(1 << 20, signal)) {
        scanner.feed(chunk, (argv, raw, _start, end) => {
          out.push({ argv: argv as Buffer[], raw: raw as Buffer, offset: base + end });
        });
        if (out.length > 0) {
          yield out;
          out = [];
        }
      }
      seg.file.remove();
      index++;
    }
  }

  /** The command stream one command at a time (see commandBatches). */
  async *commands(signal?: AbortSignal): AsyncGenerator<StreamCommand> {
    for await (const batch of this.commandBatches(signal)) yield* batch;
  }

  /** Closes the link (spool files stay until read; call `cleanup()` to remove them). */
  close(): void {
    this.fail(new FerryError('CONNECTION_CLOSED', `replication link to ${this.name} closed by Ferry`));
  }

  /** Removes every spool file of this link. */
  cleanup(): void {
    this.snapshotFile?.remove();
    for (const s of this.segments) s.file.remove();
  }
}
