import { setTimeout as sleep } from 'node:timers/promises';
import { FerryError, isFerryError } from '@ferry/errors';
import {
  type Arg,
  connect,
  ReplyError,
  type RespConnection,
  type RespValue,
  type WireCommand,
} from '@ferry/resp';
import { type Endpoint, endpointName } from '../endpoint.js';
import { checkFence, type LeaseFence, leaseClientName } from '../lease.js';
import { redisRdbVersion, type ServerIdentity, serverIdentity } from '../server-identity.js';
import { SLOTS } from '../slot.js';
import { compareVersions } from '../versions.js';
import { describeCommand, firstRedirect, wrapError } from './errors.js';
import { type ProxyKind, TWEMPROXY_MAX_KEY_BYTES } from './proxy.js';
import type { SendOptions, TargetOptions } from './target-options.js';

export { describeCommand } from './errors.js';

export type { SendOptions, TargetOptions } from './target-options.js';

interface Node {
  name: string;
  endpoint: Endpoint;
  conn: RespConnection | undefined;
  connecting: Promise<RespConnection> | undefined;
  /** db the connection is on, as far as queued commands go. */
  db: number;
}

const RETRY_BASE_MS = 50;

/**
 * Writes to a standalone target or a Redis Cluster: pipelined per node with a bounded in-flight
 * window, every reply checked, MOVED/ASK followed, TRYAGAIN/LOADING/CLUSTERDOWN/BUSY retried with
 * backoff. Commands for one slot go over one connection, so they apply in the order sent.
 */
export class TargetWriter {
  readonly cluster: boolean;
  readonly proxy: ProxyKind | undefined;
  readonly maxKeyBytes: number;
  private readonly nodes = new Map<string, Node>();
  private slots: Array<Node | undefined> = new Array<Node | undefined>(SLOTS).fill(undefined);
  private standalone: Node | undefined;
  /** Server version of the (first) target node, e.g. "7.0.15". */
  version = '0.0.0';
  /** False behind a proxy given no version: RESTORE is tried and the rewrite path taken if refused. */
  versionKnown = true;
  /** Which server the target is (read from its INFO; a proxy's servers are known by --target-version only). */
  identity: ServerIdentity | undefined;

  /** The newest RDB version the target's RESTORE takes. */
  get restoreAccepts(): number {
    return this.identity?.restoreAccepts ?? redisRdbVersion(this.version);
  }
  /** Whether the target's RESTORE takes payloads of RDB `version` (Valkey's own from 80 on). */
  takesRestoreOf(version: number): boolean {
    return version >= 80
      ? version <= (this.identity?.restoreAcceptsValkey ?? 0)
      : version <= this.restoreAccepts;
  }
  private refreshing: Promise<void> | undefined;
  /** Every connection is marked `CLIENT IMPORT-SOURCE ON` (see import-mode.ts). */
  private importSource: boolean;

  private constructor(private readonly o: TargetOptions) {
    this.cluster = Boolean(o.cluster);
    this.importSource = o.importSource === true;
    this.proxy = o.proxy;
    this.maxKeyBytes =
      o.maxKeyBytes ?? (o.proxy === 'twemproxy' ? TWEMPROXY_MAX_KEY_BYTES : Number.POSITIVE_INFINITY);
    if (this.cluster && this.proxy)
      throw new FerryError('CONFIG_INVALID', 'a target is either a cluster or a proxy, not both');
  }

  static async open(o: TargetOptions): Promise<TargetWriter> {
    const w = new TargetWriter(o);
    w.fence = o.fence;
    if (w.cluster) await w.refresh();
    else w.standalone = w.node(o.endpoint);
    const first = w.cluster ? w.masters()[0] : w.standalone;
    if (!first) throw new FerryError('CONNECTION_FAILED', `target ${endpointName(o.endpoint)} has no master`);
    const conn = await w.connection(first);
    if (w.proxy) {
      // twemproxy closes the connection on INFO; PING proves the proxy and its login
      await conn.send(['PING']);
      w.version = o.version ?? '3.2.0';
      w.versionKnown = o.version !== undefined;
      return w;
    }
    // a connection opened before the slot map was known (the seed) proves the lease now
    if (w.fence) for (const m of w.masters()) if (m.conn?.open) await w.proveLease(m, m.conn, w.fence);
    const info = String(await conn.send(['INFO', 'server']));
    w.version = /redis_version:([^\r\n]+)/.exec(info)?.[1] ?? '0.0.0';
    w.identity = serverIdentity(info);
    if (!w.cluster && /cluster_enabled:1/.test(String(await conn.send(['INFO', 'cluster'])))) {
      throw new FerryError(
        'CONFIG_INVALID',
        `target ${endpointName(o.endpoint)} is a Redis Cluster node: pass --target-cluster`,
      );
    }
    return w;
  }

  private fence: LeaseFence | undefined;

  /**
   * From now on every connection this writer opens to a master proves the lease first; the ones
   * open now are named after the task (so a later owner can close them).
   */
  async setFence(fence: LeaseFence): Promise<void> {
    this.fence = fence;
    if (this.proxy) return;
    for (const n of this.nodes.values())
      if (n.conn?.open) await n.conn.send(['CLIENT', 'SETNAME', leaseClientName(fence.taskId, fence.owner)]);
  }

  /** Marks every connection, open now or later, as the import source (or no longer). */
  async markImportSource(on: boolean): Promise<void> {
    this.importSource = on;
    for (const n of this.nodes.values())
      if (n.conn?.open) await n.conn.send(['CLIENT', 'IMPORT-SOURCE', on ? 'ON' : 'OFF']);
  }

  /** True while connections are marked as the import source. */
  get isImportSource(): boolean {
    return this.importSource;
  }

  /** The endpoint the writer was opened with (a seed of a cluster). */
  get endpoint(): Endpoint {
    return this.o.endpoint;
  }

  /**
   * True when the target keeps hash fields' own TTLs (HPEXPIREAT …FIELDS): Redis 7.4 on, and Valkey
   * 9.0 on (which answers INFO with redis_version 7.2.4, so its own version decides).
   */
  get fieldTtl(): boolean {
    const id = this.identity;
    if (id?.product === 'valkey') return compareVersions(id.version, '9.0.0') >= 0;
    return this.atLeast('7.4.0');
  }

  /** True when the target's version is at least `v` ("5.0.0"). */
  atLeast(v: string): boolean {
    return compareVersions(this.version, v) >= 0;
  }

  private node(e: Endpoint): Node {
    const name = endpointName(e);
    let n = this.nodes.get(name);
    if (!n) {
      n = { name, endpoint: e, conn: undefined, connecting: undefined, db: 0 };
      this.nodes.set(name, n);
    }
    return n;
  }

  /** The master nodes (one for a standalone target). */
  masters(): Node[] {
    if (!this.cluster) return this.standalone ? [this.standalone] : [];
    return [...new Set(this.slots.filter((n): n is Node => n !== undefined))];
  }

  private async connection(n: Node): Promise<RespConnection> {
    if (n.conn?.open) return n.conn;
    if (!n.connecting) {
      const { endpoint } = n;
      n.connecting = connect({
        host: endpoint.host,
        port: endpoint.port,
        ...(endpoint.username ? { username: endpoint.username } : {}),
        ...(endpoint.password !== undefined ? { password: endpoint.password } : {}),
        ...(endpoint.tls ? { tls: true } : {}),
        maxInFlight: this.o.maxInFlight ?? 2048,
        ...(this.o.signal ? { signal: this.o.signal } : {}),
      })
        .then(async (c) => {
          const fence = this.fence;
          if (fence && !this.proxy) {
            await this.proveLease(n, c, fence).catch((err: unknown) => {
              if (this.o.onTargetLost && isFerryError(err, 'RESYNC_REQUIRED')) {
                this.o.onTargetLost(n.name);
                return;
              }
              c.destroy();
              throw err;
            });
          }
          if (this.importSource) await c.send(['CLIENT', 'IMPORT-SOURCE', 'ON']);
          n.conn = c;
          n.db = 0;
          return c;
        })
        .finally(() => {
          n.connecting = undefined;
        });
    }
    return n.connecting;
  }

  /** Reads the slot map (CLUSTER SLOTS works on 3.0 → 8.x). */
  refresh(): Promise<void> {
    if (!this.refreshing) {
      this.refreshing = this.doRefresh().finally(() => {
        this.refreshing = undefined;
      });
    }
    return this.refreshing;
  }

  private async doRefresh(): Promise<void> {
    const seeds = [this.o.endpoint, ...[...this.nodes.values()].map((n) => n.endpoint)];
    let lastErr: unknown;
    for (const seed of seeds) {
      try {
        const conn = await this.connection(this.node(seed));
        const reply = (await conn.send(['CLUSTER', 'SLOTS'])) as RespValue[];
        const slots: Array<Node | undefined> = new Array<Node | undefined>(SLOTS).fill(undefined);
        for (const range of reply as RespValue[][]) {
          const [from, to, master] = range as [number, number, RespValue[]];
          const host = String(master[0]) || seed.host;
          const port = Number(master[1]);
          const n = this.node({ ...this.o.endpoint, host, port });
          for (let s = from; s <= to; s++) slots[s] = n;
        }
        const missing = slots.indexOf(undefined);
        if (missing >= 0) {
          throw new FerryError(
            'TARGET_WRITE_FAILED',
            `target cluster does not cover every slot (slot ${missing} has no master): fix it with redis-cli --cluster fix`,
          );
        }
        this.slots = slots;
        return;
      } catch (err) {
        lastErr = err;
        if (err instanceof ReplyError && /cluster support disabled/i.test(err.message)) {
          throw new FerryError(
            'CONFIG_INVALID',
            `target ${endpointName(seed)} is not a cluster node: drop --target-cluster`,
            { cause: err },
          );
        }
        if (isFerryError(err) && err.code !== 'CONNECTION_FAILED' && err.code !== 'CONNECTION_CLOSED')
          throw err;
      }
    }
    throw lastErr;
  }

  private nodeFor(slot: number | undefined): Node {
    if (!this.cluster) return this.standalone as Node;
    const n = slot === undefined ? this.masters()[0] : this.slots[slot];
    if (!n) throw new FerryError('TARGET_WRITE_FAILED', `no target node serves slot ${slot}`);
    return n;
  }

  /** Resolves when the node for `slot` has room for more commands. */
  async writable(slot?: number): Promise<void> {
    const n = this.nodeFor(slot);
    const c = await this.connection(n);
    await c.writable().catch(() => undefined);
  }

  /**
   * Sends one command to the node serving `slot` in `db` (a standalone target's SELECTs are added
   * as needed). Resolves with the reply; rejects with TARGET_WRITE_FAILED naming the command for a
   * reply that retrying cannot fix.
   */
  async send(
    db: number,
    slot: number | undefined,
    argv: readonly Arg[],
    opts: SendOptions = {},
  ): Promise<RespValue> {
    const replies = await this.sendGroup(db, slot, [argv], false, opts);
    return replies[0] as RespValue;
  }

  /**
   * Sends commands back to back on one connection; with `atomic`, wrapped in MULTI/EXEC (the replies
   * are EXEC's). Every reply is checked: an error reply fails the whole call with that command named.
   */
  async sendGroup(
    db: number,
    slot: number | undefined,
    cmds: ReadonlyArray<WireCommand>,
    atomic: boolean,
    opts: SendOptions = {},
    /** The db `cmds` leave a standalone connection in, when they SELECT. Default `db`. */
    endDb = db,
  ): Promise<RespValue[]> {
    const deadline = Date.now() + (this.o.retryForMs ?? 60_000);
    let asking: Node | undefined;
    // a proxy has no MULTI: the commands go one after another (see ShardRunner for what that costs)
    if (this.proxy) atomic = false;
    for (let attempt = 0; ; attempt++) {
      this.o.signal?.throwIfAborted();
      const n = asking ?? this.nodeFor(slot);
      try {
        return await this.sendOnce(n, db, cmds, atomic, asking !== undefined, endDb);
      } catch (err) {
        asking = undefined;
        const redirect = firstRedirect(err);
        if (redirect) {
          const target = this.node({ ...this.o.endpoint, host: redirect.host, port: redirect.port });
          if (redirect.kind === 'ASK') asking = target;
          else {
            this.slots[redirect.slot] = target;
            void this.refresh().catch(() => undefined);
            this.o.onNotice?.(`slot ${redirect.slot} moved to ${target.name}`);
          }
          if (attempt < 16) continue;
        }
        if (await this.backoff(err, attempt, deadline, opts.idempotent === true)) continue;
        throw wrapError(err, cmds, n.name);
      }
    }
  }

  /** The commands as they go on the wire (SELECT, MULTI/EXEC, ASKING added) and where the caller's replies are. */
  private frame(
    n: Node,
    db: number,
    cmds: ReadonlyArray<WireCommand>,
    atomic: boolean,
    asking: boolean,
    endDb: number,
  ): { wire: WireCommand[]; first: number } {
    const wire: WireCommand[] = [];
    if (this.proxy) {
      if (db !== 0)
        throw new FerryError('CONFIG_INVALID', `a ${this.proxy} target has db 0 only (asked for db ${db})`);
    } else if (!this.cluster && n.db !== db) wire.push(['SELECT', db]);
    if (atomic) wire.push(['MULTI']);
    const first = wire.length;
    for (const argv of cmds) {
      if (asking) wire.push(['ASKING']);
      wire.push(argv);
    }
    if (atomic) wire.push(['EXEC']);
    if (!this.cluster) n.db = endDb;
    return { wire, first };
  }

  private async sendOnce(
    n: Node,
    db: number,
    cmds: ReadonlyArray<WireCommand>,
    atomic: boolean,
    asking: boolean,
    endDb: number,
  ): Promise<RespValue[]> {
    // no await when the connection is up: callers' commands are queued in the order they call
    const conn = n.conn?.open ? n.conn : await this.connection(n);
    const { wire, first } = this.frame(n, db, cmds, atomic, asking, endDb);
    let replies: Array<RespValue | ReplyError>;
    try {
      replies = await conn.sendBatch(wire);
    } catch (err) {
      n.db = -1; // a lost connection may have cut the SELECT: select again on the next one
      throw err;
    }
    // the first failure, in order; for a transaction the queued commands' own errors come first
    for (const r of replies) if (r instanceof ReplyError) throw r;
    if (atomic) {
      const exec = replies[replies.length - 1];
      if (!Array.isArray(exec))
        throw new FerryError('TARGET_WRITE_FAILED', `EXEC on ${n.name} was aborted (a WATCH?)`);
      exec.forEach((r, i) => {
        if (r instanceof ReplyError) {
          r.command = describeCommand(cmds[i] as WireCommand);
          throw r;
        }
      });
      return exec;
    }
    const out = replies.slice(first) as RespValue[];
    return asking ? out.filter((_, i) => i % 2 === 1) : out;
  }

  /**
   * Bulk path: sends `cmds` to one node as one unit and returns every reply, an error reply as its
   * ReplyError in place, for the caller to deal with key by key (MOVED, BUSYKEY…). A lost connection
   * is retried (the commands must be idempotent) until `retryForMs`.
   */
  async sendBulk(
    db: number,
    slot: number | undefined,
    cmds: ReadonlyArray<WireCommand>,
    /** Commands in `cmds` when an entry is a Buffer holding several encoded back to back. */
    count = cmds.length,
  ): Promise<Array<RespValue | ReplyError>> {
    const deadline = Date.now() + (this.o.retryForMs ?? 60_000);
    for (let attempt = 0; ; attempt++) {
      this.o.signal?.throwIfAborted();
      const n = this.nodeFor(slot);
      try {
        const conn = n.conn?.open ? n.conn : await this.connection(n);
        const { wire, first } = this.frame(n, db, cmds, false, false, db);
        const replies = await conn.sendBatch(wire, first + count).catch((err: unknown) => {
          n.db = -1;
          throw err;
        });
        for (let i = 0; i < first; i++) if (replies[i] instanceof ReplyError) throw replies[i];
        return first ? replies.slice(first) : replies;
      } catch (err) {
        // the bulk path's commands are idempotent (RESTORE, SET of a snapshot's keys)
        if (!(await this.backoff(err, attempt, deadline, true))) throw wrapError(err, cmds, n.name);
      }
    }
  }

  /**
   * The one retry policy of both write paths: a reply the server asks to retry (LOADING, BUSY,
   * TRYAGAIN, CLUSTERDOWN…) and, for idempotent commands, a lost connection or a timeout, are tried
   * again with exponential backoff (50 ms up to 1 s) until `deadline`; a cluster's slot map is
   * refreshed before the next attempt. Returns whether to try again.
   */
  private async backoff(
    err: unknown,
    attempt: number,
    deadline: number,
    idempotent: boolean,
  ): Promise<boolean> {
    const retryable =
      (err instanceof ReplyError && err.retryable) ||
      (idempotent &&
        isFerryError(err) &&
        (err.code === 'CONNECTION_CLOSED' || err.code === 'CONNECTION_FAILED' || err.code === 'TIMEOUT'));
    if (!retryable || Date.now() >= deadline) return false;
    if (attempt === 0) this.o.onNotice?.(`retrying after: ${(err as Error).message}`);
    await sleep(
      Math.min(RETRY_BASE_MS * 2 ** Math.min(attempt, 5), 1000),
      undefined,
      this.o.signal ? { signal: this.o.signal } : {},
    );
    if (this.cluster) await this.refresh().catch(() => undefined);
    return true;
  }

  /**
   * The fence check for node `n`, under a slot the lease was taken with that `n` serves now (a
   * node that serves none of them, or one that took them over in a failover, is proved by the
   * task's own renewal, which asks by those slots).
   */
  private async proveLease(n: Node, conn: RespConnection, fence: LeaseFence): Promise<void> {
    const slot = this.cluster
      ? Object.keys(fence.epochs)
          .map(Number)
          .find((s) => this.slots[s] === n)
      : 0;
    if (slot !== undefined) await checkFence(conn, fence, slot, n.name);
  }

  /** The endpoint of the node serving `slot` (with the target's credentials). */
  nodeEndpoint(slot: number | undefined): Endpoint {
    return this.nodeFor(slot).endpoint;
  }

  /** The node serving `slot`, by name (to group commands per node). */
  nodeName(slot: number | undefined): string {
    return this.nodeFor(slot).name;
  }

  /** Sends to every master (FLUSHALL, FUNCTION LOAD, SCRIPT LOAD…). */
  async broadcast(db: number, argv: readonly Arg[], opts: SendOptions = {}): Promise<void> {
    const masters = this.masters();
    await Promise.all(
      masters.map((m) => {
        const slot = this.cluster ? this.slots.indexOf(m) : undefined;
        return this.send(db, slot, argv, opts);
      }),
    );
  }

  /** One slot each master serves (to address a node through the slot API). */
  masterSlots(): number[] {
    if (!this.cluster) return [0];
    return this.masters().map((m) => this.slots.indexOf(m));
  }

  /** Waits until every command sent so far has its reply. */
  async drain(): Promise<void> {
    await Promise.all(
      [...this.nodes.values()].map(async (n) => {
        const c = n.conn;
        if (c?.open && c.pending > 0) await c.send(['PING']).catch(() => undefined);
      }),
    );
  }

  async close(): Promise<void> {
    await Promise.all([...this.nodes.values()].map((n) => n.conn?.close().catch(() => undefined)));
  }
}
