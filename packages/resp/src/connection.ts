import { connect as netConnect, type Socket } from 'node:net';
import { type ConnectionOptions as TlsOptions, connect as tlsConnect } from 'node:tls';
import { FerryError } from '@ferry/errors';
import { authError, connectError } from './connect-errors.js';
import { decodeAll, RespDecoder } from './decoder.js';
import { Deque } from './deque.js';
import { encodeCommand } from './encoder.js';
import { ReplyError } from './errors.js';
import { type Arg, RespPush, type RespValue } from './types.js';
import { wireBytes } from './wire-bytes.js';

export interface ConnectOptions {
  host: string;
  port: number;
  /** ACL user (Redis 6+); without it AUTH sends the password alone. */
  username?: string;
  password?: string;
  /** `true` for TLS with default options, or Node's TLS options (ca, cert, key, servername…). */
  tls?: boolean | TlsOptions;
  /** SELECT this db after connecting. */
  db?: number;
  /** RESP protocol: 2 (default) or 3 (HELLO 3). */
  protocol?: 2 | 3;
  connectTimeoutMs?: number;
  /** A reply later than this fails the connection (it cannot skip a reply and stay in order). 0: none. */
  commandTimeoutMs?: number;
  /** Commands written and not yet answered, at most. Default 1024. */
  maxInFlight?: number;
  /**
   * Bytes of commands queued or written and not yet answered, at most (a producer's `writable()`
   * waits above it; one command bigger than this still goes alone). Default 32 MB: a window of
   * big values cannot pile up in memory however many commands `maxInFlight` allows.
   */
  maxInFlightBytes?: number;
  /** Aborting it closes the connection and fails every pending command with ABORTED. */
  signal?: AbortSignal;
  /** RESP3 out-of-band pushes. */
  onPush?: (push: RespPush) => void;
}

export interface SendOptions {
  signal?: AbortSignal;
}

interface Pending {
  /** The command, or the first of a batch (for messages). */
  argv: WireCommand;
  /** Its size on the wire, about (what counts against maxInFlightBytes). */
  bytes: number;
  /** A batch: commands sent together, answered with every reply (errors in place) at once. */
  batch?: ReadonlyArray<WireCommand>;
  replies?: Array<RespValue | ReplyError>;
  /** Commands in this entry. */
  count: number;
  resolve: (value: RespValue | Array<RespValue | ReplyError>) => void;
  reject: (err: Error) => void;
  /** Aborted after being written: its reply is read and dropped. */
  discarded: boolean;
  signal?: AbortSignal;
  onAbort?: () => void;
}

/** A command to send: its arguments, or its RESP encoding as it came (a replication stream's bytes). */
export type WireCommand = readonly Arg[] | Buffer;

function describe(command: WireCommand): string {
  let argv: readonly Arg[];
  if (Buffer.isBuffer(command)) {
    try {
      argv = (decodeAll(command)[0] as Buffer[] | undefined) ?? [];
    } catch {
      argv = ['(unreadable command)'];
    }
  } else argv = command;
  const [name, first] = argv;
  const text = (a: Arg | undefined): string =>
    a === undefined ? '' : Buffer.isBuffer(a) ? a.toString('latin1') : String(a);
  const key = text(first);
  return `${text(name).toUpperCase()}${key ? ` ${key.length > 60 ? `${key.slice(0, 60)}…` : key}` : ''}`;
}

/**
 * One pipelined connection to a Redis server: commands are written in call order, many in flight,
 * replies matched in order. At most `maxInFlight` commands are on the wire; the rest wait in a
 * queue, and `writable()` tells a producer when to add more. Socket write backpressure is honoured.
 */
export class RespConnection {
  private readonly decoder = new RespDecoder();
  private readonly queue = new Deque<Pending>();
  private readonly inflight = new Deque<Pending>();
  /** Commands (not entries) queued and in flight. */
  private queuedCount = 0;
  private inflightCount = 0;
  private readonly capacityWaiters: Array<() => void> = [];
  private readonly idleWaiters: Array<() => void> = [];
  private closedError: Error | undefined;
  private needDrain = false;
  private timer: NodeJS.Timeout | undefined;
  private lastReplyAt = Date.now();
  /** Whether the server ever sent a byte (a reset before that is told apart). */
  private gotData = false;
  private readonly maxInFlight: number;
  private readonly maxInFlightBytes: number;
  /** Bytes of the commands queued or in flight (see maxInFlightBytes). */
  private pendingBytes = 0;
  readonly name: string;
  /** Server version seen by `info()`, when asked. */
  serverVersion: string | undefined;
  /** Resolves when the connection is closed, with the error that closed it (if any). */
  readonly closed: Promise<Error | undefined>;
  private resolveClosed!: (err: Error | undefined) => void;

  private constructor(
    private readonly socket: Socket,
    private readonly options: ConnectOptions,
  ) {
    this.maxInFlight = options.maxInFlight ?? 1024;
    this.maxInFlightBytes = options.maxInFlightBytes ?? 32 << 20;
    this.name = `${options.host}:${options.port}`;
    this.closed = new Promise((r) => (this.resolveClosed = r));
    socket.setNoDelay(true);
    socket.on('data', this.onData);
    socket.on('drain', () => {
      this.needDrain = false;
      this.pump();
    });
    socket.on('error', (err) => this.fail(this.socketError(err)));
    socket.on('close', () =>
      this.fail(new FerryError('CONNECTION_CLOSED', `connection to ${this.name} closed`)),
    );
    if (options.commandTimeoutMs) {
      const ms = options.commandTimeoutMs;
      this.timer = setInterval(
        () => {
          if (this.inflight.length > 0 && Date.now() - this.lastReplyAt > ms) {
            this.fail(new FerryError('TIMEOUT', `no reply from ${this.name} within ${ms} ms`));
          }
        },
        Math.min(ms, 1000),
      );
      this.timer.unref();
    }
  }

  /** Connects, then authenticates, switches protocol and selects the db as asked. */
  static async connect(options: ConnectOptions): Promise<RespConnection> {
    const where = `${options.host}:${options.port}`;
    options.signal?.throwIfAborted();
    const socket = await new Promise<Socket>((resolve, reject) => {
      const timeoutMs = options.connectTimeoutMs ?? 10_000;
      const s: Socket = options.tls
        ? tlsConnect({ host: options.host, port: options.port, ...(options.tls === true ? {} : options.tls) })
        : netConnect({ host: options.host, port: options.port });
      const done = (err?: Error): void => {
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        s.removeAllListeners('error');
        s.removeAllListeners(options.tls ? 'secureConnect' : 'connect');
        if (err) {
          s.destroy();
          reject(err);
        } else resolve(s);
      };
      const onAbort = (): void => done(new FerryError('ABORTED', `connecting to ${where} was aborted`));
      const timer = setTimeout(
        () => done(new FerryError('TIMEOUT', `connecting to ${where} timed out after ${timeoutMs} ms`)),
        timeoutMs,
      );
      options.signal?.addEventListener('abort', onAbort, { once: true });
      s.once('error', (err) => done(connectError(where, err, Boolean(options.tls))));
      s.once(options.tls ? 'secureConnect' : 'connect', () => done());
    });
    const conn = new RespConnection(socket, options);
    if (options.signal) {
      const onAbort = (): void => conn.fail(new FerryError('ABORTED', `connection to ${where} aborted`));
      options.signal.addEventListener('abort', onAbort, { once: true });
      void conn.closed.then(() => options.signal?.removeEventListener('abort', onAbort));
    }
    try {
      await conn.handshake();
    } catch (err) {
      conn.destroy();
      throw err;
    }
    return conn;
  }

  private async handshake(): Promise<void> {
    const { username, password, protocol, db } = this.options;
    try {
      if (protocol === 3) {
        const auth = password !== undefined ? ['AUTH', username ?? 'default', password] : [];
        await this.send(['HELLO', '3', ...auth]);
      } else if (password !== undefined) {
        await this.send(username ? ['AUTH', username, password] : ['AUTH', password]);
      }
      if (db) await this.send(['SELECT', db]);
    } catch (err) {
      if (err instanceof ReplyError) throw authError(this.name, err, username);
      throw err;
    }
  }

  /** Commands queued or in flight. */
  get pending(): number {
    return this.queuedCount + this.inflightCount;
  }

  /** Bytes of the commands queued or in flight, about (bounded by maxInFlightBytes for a producer on writable()). */
  get pendingByteCount(): number {
    return this.pendingBytes;
  }

  /** True until the connection fails or is closed. */
  get open(): boolean {
    return this.closedError === undefined;
  }

  /** Resolves when fewer than `maxInFlight` commands are queued or in flight: how producers pace themselves. */
  writable(): Promise<void> {
    if (this.closedError) return Promise.reject(this.closedError);
    if (this.hasRoom()) return Promise.resolve();
    return new Promise((resolve) => this.capacityWaiters.push(resolve));
  }

  /** Room for more: under the command count and the byte budget (or nothing pending at all). */
  private hasRoom(): boolean {
    return (
      this.pending === 0 || (this.pending < this.maxInFlight && this.pendingBytes < this.maxInFlightBytes)
    );
  }

  /**
   * Sends one command; resolves with its reply, rejects with a `ReplyError` (typed: MOVED, ASK,
   * LOADING…) for an error reply, or a FerryError when the connection fails or `signal` aborts.
   */
  send(argv: readonly Arg[], options: SendOptions = {}): Promise<RespValue> {
    if (this.closedError) return Promise.reject(this.closedError);
    if (options.signal?.aborted) {
      return Promise.reject(new FerryError('ABORTED', `${describe(argv)} aborted before it was sent`));
    }
    return new Promise<RespValue>((resolve, reject) => {
      const p: Pending = {
        argv,
        bytes: wireBytes(argv),
        count: 1,
        resolve: resolve as Pending['resolve'],
        reject,
        discarded: false,
      };
      if (options.signal) {
        p.signal = options.signal;
        p.onAbort = () => this.abortOne(p);
        options.signal.addEventListener('abort', p.onAbort, { once: true });
      }
      this.queue.push(p);
      this.queuedCount++;
      this.pendingBytes += p.bytes;
      this.pumpSoon();
    });
  }

  private pumpScheduled = false;

  /**
   * Pumps once the code that is sending has run (a microtask): the commands and batches it sends one
   * by one in a loop go out in one socket write, not a write each (the check before "done" sampling
   * a thousand keys made 8 000 writes).
   */
  private pumpSoon(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    queueMicrotask(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  /**
   * Sends commands back to back as one unit (one write, one promise): resolves with every reply in
   * order, an error reply as its `ReplyError` in place; rejects only when the connection fails. The
   * fast path for bulk writes.
   */
  sendBatch(
    commands: ReadonlyArray<WireCommand>,
    /** Commands in all: more than `commands.length` when an entry is a Buffer of several encoded back to back. */
    count = commands.length,
  ): Promise<Array<RespValue | ReplyError>> {
    if (this.closedError) return Promise.reject(this.closedError);
    if (commands.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      let bytes = 0;
      for (const c of commands) bytes += wireBytes(c);
      const p: Pending = {
        argv: commands[0] as WireCommand,
        bytes,
        batch: commands,
        replies: [],
        count,
        resolve: resolve as Pending['resolve'],
        reject,
        discarded: false,
      };
      this.queue.push(p);
      this.queuedCount += p.count;
      this.pendingBytes += p.bytes;
      this.pumpSoon();
    });
  }

  /** Sends a batch in one go; each entry is the reply or the ReplyError of that command. */
  async pipeline(commands: ReadonlyArray<readonly Arg[]>): Promise<Array<RespValue | ReplyError>> {
    return Promise.all(
      commands.map((c) =>
        this.send(c).catch((err: unknown) => {
          if (err instanceof ReplyError) return err;
          throw err;
        }),
      ),
    );
  }

  private abortOne(p: Pending): void {
    const err = new FerryError('ABORTED', `${describe(p.argv)} aborted`);
    if (this.queue.remove(p)) {
      this.queuedCount -= p.count;
      this.pendingBytes -= p.bytes;
      p.reject(err);
      this.releaseCapacity();
    } else if (!p.discarded) {
      p.discarded = true; // written: its reply still comes and is dropped, keeping order
      p.reject(err);
    }
  }

  /** Moves queued commands onto the wire, many per socket write. */
  private pump(): void {
    if (this.needDrain || this.closedError) return;
    const out: Buffer[] = [];
    let bytes = 0;
    while (this.queue.length > 0 && (this.inflightCount < this.maxInFlight || this.inflightCount === 0)) {
      const p = this.queue.shift() as Pending;
      this.queuedCount -= p.count;
      if (this.inflightCount === 0) this.lastReplyAt = Date.now();
      this.inflight.push(p);
      this.inflightCount += p.count;
      if (p.batch)
        for (const c of p.batch) bytes = this.stage(out, bytes, Buffer.isBuffer(c) ? c : encodeCommand(c));
      else bytes = this.stage(out, bytes, Buffer.isBuffer(p.argv) ? p.argv : encodeCommand(p.argv));
      if (bytes >= 256 << 10) {
        bytes = 0;
        if (!this.flush(out)) this.needDrain = true;
      }
      if (this.needDrain) break;
    }
    if (out.length > 0 && !this.flush(out)) this.needDrain = true;
  }

  /**
   * Adds one encoded command to what the next socket write sends; a big buffer (a unit of many
   * commands) is written as it is, after what was staged before it, instead of being copied into a
   * joined one. Returns the bytes staged.
   */
  private stage(out: Buffer[], bytes: number, buf: Buffer): number {
    if (buf.length >= 64 << 10) {
      if (out.length > 0 && !this.flush(out)) this.needDrain = true;
      if (!this.socket.write(buf)) this.needDrain = true;
      return 0;
    }
    out.push(buf);
    return bytes + buf.length;
  }

  /** Writes the staged buffers as one; false when the socket asks to wait for 'drain'. */
  private flush(out: Buffer[]): boolean {
    const ok = this.socket.write(out.length === 1 ? (out[0] as Buffer) : Buffer.concat(out));
    out.length = 0;
    return ok;
  }

  private releaseCapacity(): void {
    while (this.capacityWaiters.length > 0 && this.hasRoom()) this.capacityWaiters.shift()?.();
    if (this.pending === 0) for (const w of this.idleWaiters.splice(0)) w();
  }

  private readonly onData = (chunk: Buffer): void => {
    // every reply in a chunk arrived at once: one clock read for all of them
    this.lastReplyAt = Date.now();
    this.gotData = true;
    try {
      this.decoder.feed(chunk, (value) => {
        if (value instanceof RespPush) {
          this.options.onPush?.(value);
          return;
        }
        const p = this.inflight.peek();
        if (!p)
          throw new FerryError(
            'PROTOCOL_ERROR',
            `unexpected reply from ${this.name} with no command waiting`,
          );
        this.inflightCount--;
        if (p.replies) {
          if (value instanceof ReplyError)
            value.command =
              p.batch && p.batch.length === p.count
                ? describe(p.batch[p.replies.length] ?? p.argv)
                : `command ${p.replies.length + 1} of a unit of ${p.count}`; // packed: not decoded again
          p.replies.push(value);
          if (p.replies.length < p.count) return;
          this.inflight.shift();
          this.pendingBytes -= p.bytes;
          if (!p.discarded) p.resolve(p.replies);
          return;
        }
        this.inflight.shift();
        this.pendingBytes -= p.bytes;
        if (p.onAbort) p.signal?.removeEventListener('abort', p.onAbort);
        if (!p.discarded) {
          if (value instanceof ReplyError) {
            value.command = describe(p.argv);
            // a server that wants a password and was given none says so at the first command
            p.reject(value.kind === 'NOAUTH' ? authError(this.name, value, this.options.username) : value);
          } else p.resolve(value);
        }
      });
    } catch (err) {
      this.fail(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    this.releaseCapacity();
    this.pump();
  };

  private socketError(err: NodeJS.ErrnoException): FerryError {
    // a TLS port resets a plaintext client at its first command: say what that usually means
    const hint =
      err.code === 'ECONNRESET' && !this.gotData && !this.options.tls
        ? ' (reset before any reply: is this a TLS port? then connect with TLS)'
        : '';
    return new FerryError('CONNECTION_CLOSED', `connection to ${this.name} failed: ${err.message}${hint}`, {
      cause: err,
    });
  }

  private fail(err: Error): void {
    if (this.closedError) return;
    this.closedError = err;
    if (this.timer) clearInterval(this.timer);
    this.socket.destroy();
    for (const p of [...this.inflight.drain(), ...this.queue.drain()]) {
      if (p.onAbort) p.signal?.removeEventListener('abort', p.onAbort);
      if (!p.discarded) p.reject(err);
    }
    this.inflightCount = 0;
    this.queuedCount = 0;
    this.pendingBytes = 0;
    for (const w of this.capacityWaiters.splice(0)) w();
    for (const w of this.idleWaiters.splice(0)) w();
    this.resolveClosed(err);
  }

  /** Waits for pending replies, then closes the connection. */
  async close(): Promise<void> {
    if (this.closedError) return;
    if (this.pending > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    this.fail(new FerryError('CONNECTION_CLOSED', `connection to ${this.name} closed by Ferry`));
  }

  /** Closes at once; pending commands fail. */
  destroy(err?: Error): void {
    this.fail(err ?? new FerryError('CONNECTION_CLOSED', `connection to ${this.name} closed by Ferry`));
  }

  /**
   * Hands the raw socket over (for the replication stream after the handshake), with any bytes
   * already received past the last reply. Only when nothing is pending.
   */
  detach(): { socket: Socket; rest: Buffer } {
    if (this.pending > 0)
      throw new FerryError('PROTOCOL_ERROR', `cannot detach ${this.name} with commands pending`);
    if (this.closedError) throw this.closedError;
    this.socket.removeListener('data', this.onData);
    this.socket.removeAllListeners('drain');
    this.socket.removeAllListeners('error');
    this.socket.removeAllListeners('close');
    if (this.timer) clearInterval(this.timer);
    this.closedError = new FerryError('CONNECTION_CLOSED', `connection to ${this.name} was handed over`);
    this.resolveClosed(undefined);
    return { socket: this.socket, rest: this.decoder.takeRemainder() };
  }
}

/** Opens a connection (see RespConnection.connect). */
export function connect(options: ConnectOptions): Promise<RespConnection> {
  return RespConnection.connect(options);
}
