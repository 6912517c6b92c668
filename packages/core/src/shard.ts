import { Worker } from 'node:worker_threads';
import { FerryError, type FerryErrorCode, isFerryError } from '@ferry/errors';
import { dumpPayload, type KeyEntry, RdbParser } from '@ferry/rdb';
import { freeBytes, ReplicaLink, type StreamCommand, type SyncStart } from '@ferry/replication';
import { type Arg, ReplyError, type RespConnection, type WireCommand } from '@ferry/resp';
import type { ShardCheckpoint } from './checkpoint.js';
import { COMMANDS, commandName, keyPositions, replaySafe } from './commands.js';
import { connectEndpoint, type Endpoint, endpointName } from './endpoint.js';
import type { ShardMetrics, TaskEvents } from './events.js';
import { OwnKeys } from './ferry-keys.js';
import { formatBytes } from './format.js';
import type { TaskIdentity } from './identity.js';
import { type DbRoute, type KeyMapper, mapKey } from './keys.js';
import type { RateLimiter } from './limiter.js';
import type { MovedKeys } from './moved.js';
import type { RateLimit, ResolvedOptions } from './options.js';
import type { ShardSpec } from './plugins.js';
import { encodeRestores, type RestoreItem } from './restore.js';
import { Rewriter } from './rewrite.js';
import { CODIS_SLOTS, codisSlot, keySlot, SLOTS, slotTag } from './slot.js';
import type { SnapshotWorkerData, WorkerMessage, WorkerTarget } from './snapshot-worker.js';
import { type ProxyKind, proxyName, proxyRefuses } from './target/proxy.js';
import { describeCommand, type TargetWriter } from './target/writer.js';
import { rdbVersionOf } from './versions.js';

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
}

/** What a snapshot worker is built from, beyond the shard's context. */
export interface SnapshotWorkerSpec {
  target: WorkerTarget;
  forceDb0: boolean;
  /** This shard's part of the task's rate limit, now. */
  rate(): RateLimit;
}

/**
 * The process's Node options less a `@ferry/source` condition (tests resolve the packages' sources
 * with it; the worker runs the build, whose imports must resolve to the build too).
 */
function workerExecArgv(): string[] {
  const out: string[] = [];
  const a = process.execArgv;
  for (let i = 0; i < a.length; i++) {
    const arg = a[i] as string;
    if ((arg === '--conditions' || arg === '-C') && a[i + 1] === '@ferry/source') i++;
    else if (!/^(--conditions|-C)=@ferry\/source$/.test(arg)) out.push(arg);
  }
  return out;
}

/** The worker's module: built next to this one (tests that run the sources use the build's). */
function snapshotWorkerUrl(): URL {
  const here = import.meta.url;
  return here.endsWith('.ts')
    ? new URL('../dist/snapshot-worker.js', here)
    : new URL('./snapshot-worker.js', here);
}

const STREAM_BATCH = 512;
const MAX_BATCHES_IN_FLIGHT = 64;
const SNAPSHOT_BATCH = 512;
const CHECKPOINT_EVERY_MS = 1000;
const METRICS_EVERY_MS = 1000;

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

interface RestoreSpec {
  ttl: number;
  rdbVersion: number;
  replace: boolean;
  absttl: boolean;
}

/** The target dbs a task writes to (db 0 alone on a cluster). */
export function targetDbs(mapper: KeyMapper, cluster: boolean): number[] {
  if (cluster) return [0];
  const dbs = new Set<number>();
  for (let db = 0; db < 16; db++) {
    const r = mapper.route(db);
    if (r) dbs.add(r.db);
  }
  return [...dbs].sort((a, b) => a - b);
}

/** RESTORE as arguments (the path for single keys, retries and error messages). */
function restoreArgs(key: Buffer, rdbType: number, raw: Buffer, r: RestoreSpec): Arg[] {
  const args: Arg[] = ['RESTORE', key, r.ttl, dumpPayload(rdbType, raw, r.rdbVersion)];
  if (r.replace) args.push('REPLACE');
  if (r.absttl) args.push('ABSTTL');
  return args;
}

interface BulkItem extends RestoreItem {
  route: DbRoute;
  slot: number | undefined;
  e: KeyEntry;
}

interface BulkGroup {
  db: number;
  slot: number | undefined;
  items: BulkItem[];
  rdbVersion: number;
  replace: boolean;
  /** The target takes ABSTTL (used for the keys with an expiry). */
  absttl: boolean;
}

interface Pending {
  offset: number;
  /** Source db selected at that offset (a resumed stream does not start with SELECT). */
  db: number;
  done: Promise<void>;
}

/**
 * One shard's migration: a replica link to the source (a replica of it when there is one), the
 * snapshot written to the target, then the command stream replayed in source order, each applied
 * offset checkpointed only once the target acknowledged it.
 */
export class ShardRunner {
  readonly metrics: ShardMetrics;
  private link: ReplicaLink | undefined;
  private info: RespConnection | undefined;
  private heartbeatConn: RespConnection | undefined;
  private replid = '';
  private applied = 0;
  private restoreAllowed: boolean;
  private readonly rewriter: Rewriter;
  private readonly warned = new Set<string>();
  private failure: Error | undefined;
  /** Offsets already applied per checkpoint domain (slot, or 0 for a standalone target), from the target. */
  private domainDone = new Map<number, number>();
  private source: Endpoint;
  /** The replid a resumed pass asked to continue (psync2 keeps offsets across a failover's new replid). */
  private resumedFrom = '';
  private completeRequested = false;
  private stopRequested = false;
  private lastSaved = 0;
  /** Source db the stream has selected, as read so far / as applied. */
  sourceDb = 0;
  private appliedDb = 0;

  /** The task's reserved prefix: keys under it are Ferry's, never the user's. */
  readonly own: OwnKeys;
  /** Target dbs this shard has written to (kept in its checkpoint; see dropEarlierPass). */
  private readonly wrote = new Set<number>();
  /** Whether `wrote` is known for everything written (false after a checkpoint without it). */
  private wroteKnown = true;

  /** Target dbs written to, and whether that is known for everything written. */
  get writtenDbs(): ReadonlySet<number> | undefined {
    return this.wroteKnown ? this.wrote : undefined;
  }

  /** Notes that `db` of the target is written to (before the write goes out). */
  noteDb(db: number): void {
    if (this.wrote.has(db)) return;
    this.wrote.add(db);
    this.ctx.onWroteDb?.(db);
  }

  constructor(private readonly ctx: ShardContext) {
    const s = ctx.shard;
    this.own = new OwnKeys(ctx.options.reservedPrefix);
    this.source = pickSource(s);
    this.metrics = {
      shardId: s.id,
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
    const w = ctx.writer;
    // codis-proxy refuses RESTORE: the rewrite path, whatever the write mode says
    this.restoreAllowed = ctx.options.writeMode !== 'rewrite' && w.proxy !== 'codis';
    this.rewriter = new Rewriter(
      {
        multiHset: w.atLeast('4.0.0'),
        streamMeta: w.atLeast('7.0.0'),
        createConsumer: w.atLeast('6.2.0'),
        fieldTtl: w.atLeast('7.4.0'),
      },
      (m) => this.warnOnce(m),
    );
  }

  get name(): string {
    return `${this.ctx.shard.id} (${endpointName(this.source)})`;
  }

  private warnOnce(message: string, key?: Buffer, command?: string): void {
    const id = message;
    if (this.warned.has(id)) return;
    this.warned.add(id);
    this.ctx.emit('task:warning', {
      taskId: this.ctx.taskId,
      shardId: this.ctx.shard.id,
      message,
      ...(key ? { key: key.toString('latin1') } : {}),
      ...(command ? { command } : {}),
    });
  }

  /** The node this shard reads from now. */
  get sourceEndpoint(): Endpoint {
    return this.source;
  }

  /**
   * The shard's nodes changed (a failover). A link to a node that is no longer where this shard
   * should read from is closed: the task's retry opens one to the new node with PSYNC of the same
   * history, which a psync2 primary continues. Returns true when the link moves.
   */
  retarget(spec: ShardSpec): boolean {
    const s = this.ctx.shard;
    s.primary = spec.primary;
    s.replicas = spec.replicas;
    if (spec.slots) s.slots = spec.slots;
    if (spec.slotScheme) s.slotScheme = spec.slotScheme;
    this.ownSlots = undefined; // the slots may have changed
    const cur = this.source;
    const keep =
      s.preferReplica === false
        ? sameNode(cur, s.primary)
        : sameNode(cur, s.primary) || s.replicas.some((r) => sameNode(r, cur));
    if (keep) return false;
    this.source = pickSource(s);
    this.link?.close();
    return true;
  }

  /** Stops streaming once everything the source has sent so far is applied. */
  requestComplete(): void {
    this.completeRequested = true;
  }

  /**
   * The target lost what this shard wrote: the pass ends now, and the next one writes the snapshot
   * again (a full sync, as a retry after a refused resume does) instead of resuming.
   */
  resnapshot(reason: string): void {
    this.resnapshotNext = true;
    this.fail(new FerryError('RESYNC_REQUIRED', reason));
    this.link?.close();
  }
  private resnapshotNext = false;

  /** Stops streaming at the next command, with everything sent acknowledged and checkpointed. */
  requestStop(): void {
    this.stopRequested = true;
  }

  /** Lag in bytes against the source's own offset (0 when caught up). */
  get lagBytes(): number {
    return this.metrics.lagBytes;
  }

  /**
   * One pass: sync (or resume), load, stream until aborted or completed. Throws on failure; the
   * task decides whether to retry (a retry resumes from the checkpoint).
   */
  async run(onStarted?: () => void): Promise<void> {
    const { ctx } = this;
    // The previous pass's writes still in flight settle first (a resume reads the target's
    // checkpoints, which they may still move), and nothing of that pass touches this one's state.
    await this.settleWrites();
    this.pass++;
    // a new pass starts clean (the task retries a failed one with the same runner)
    this.failure = undefined;
    this.advancing = false;
    this.domainDone.clear();
    this.metrics.phase = 'connecting';
    const saved = ctx.loadCheckpoint();
    if (saved && !saved.dbs) this.wroteKnown = false;
    for (const db of saved?.dbs ?? []) this.wrote.add(db);
    // the target lost this shard's keys: no resume, the snapshot is written again
    const again = this.resnapshotNext;
    this.resnapshotNext = false;
    const s = this.source;
    this.info = await this.connectTo(s);
    if (ctx.options.sourceHeartbeat) {
      // written on the primary (a replica is read-only); it comes back through the stream
      this.heartbeatConn = sameNode(s, ctx.shard.primary)
        ? this.info
        : await this.connectTo(ctx.shard.primary);
    }
    const link = new ReplicaLink({
      host: s.host,
      port: s.port,
      ...(s.username ? { username: s.username } : {}),
      ...(s.password !== undefined ? { password: s.password } : {}),
      ...(s.tls ? { tls: true } : {}),
      spoolDir: ctx.spoolDir,
      ...(saved?.snapshotDone && saved.replid && !again
        ? { resume: { replid: saved.replid, offset: saved.offset } }
        : {}),
      onState: (_from, to) => {
        if (to === 'waiting-bgsave') this.metrics.phase = 'waiting-bgsave';
      },
    });
    this.link = link;
    const timer = setInterval(() => void this.tick(), METRICS_EVERY_MS);
    timer.unref();
    const onAbort = (): void => link.close();
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    try {
      const start = await link.start();
      onStarted?.();
      ctx.emit('shard:start', {
        taskId: ctx.taskId,
        shardId: ctx.shard.id,
        mode: start.mode,
        ...(start.replid ? { replid: start.replid } : {}),
        offset: start.offset,
        ...(start.mode === 'full' && start.resumeRefused ? { resumeRefused: start.resumeRefused } : {}),
      });
      if (start.mode === 'full' && start.resumeRefused) {
        this.warnOnce(
          `full resync of ${this.name}: ${start.resumeRefused}; keys are written again with REPLACE`,
        );
      }
      this.replid = start.replid ?? '';
      this.resumedFrom = start.mode === 'continue' ? (saved?.replid ?? '') : '';
      if (start.mode === 'continue') {
        this.applied = start.offset;
        this.sourceDb = this.appliedDb = saved?.db ?? 0;
        await this.loadDomains();
      } else {
        await this.checkSpoolSpace(start);
        await this.loadSnapshot(start, Boolean(saved) || again);
        this.applied = start.offset;
        this.sourceDb = this.appliedDb = 0;
        await this.saveCheckpoint(true);
      }
      this.metrics.phase = 'streaming';
      this.metrics.lagMeasuredAt = undefined;
      // the lag measured at once against the source's offset, not at the next tick: a quiet source
      // is known to be synced as soon as the snapshot is applied
      void this.tick();
      ctx.onStreaming();
      await this.stream(link);
      if (this.failure) throw this.failure;
    } finally {
      clearInterval(timer);
      ctx.signal.removeEventListener('abort', onAbort);
      link.close();
      link.cleanup();
      this.info?.destroy();
      this.heartbeatConn?.destroy();
    }
  }

  /**
   * Disk is a resource like memory: before a snapshot is spooled, the folder's free space against
   * its size (announced by a disk-based sync, else the source's dataset memory, as the precheck
   * estimates it). Short: refused now with what is needed, not cut by ENOSPC half-way.
   */
  private async checkSpoolSpace(start: Extract<SyncStart, { mode: 'full' | 'sync' }>): Promise<void> {
    let need = start.snapshotBytes;
    if (need === undefined) {
      const text = String(await this.info?.send(['INFO', 'memory']).catch(() => ''));
      const m = /^used_memory_dataset:(\d+)/m.exec(text) ?? /^used_memory:(\d+)/m.exec(text);
      need = m ? Number(m[1]) : 0;
    }
    const free = freeBytes(this.ctx.spoolDir);
    if (free === 0 || free >= need) return;
    throw new FerryError(
      'DISK_FULL',
      `the spool folder ${this.ctx.spoolDir} has ${formatBytes(free)} free and the snapshot of ${this.name} needs about ${formatBytes(need)}${start.snapshotBytes === undefined ? " (the source's dataset memory)" : ''}: free space there, or put the state folder on a bigger disk (--state-dir)`,
      { details: { dir: this.ctx.spoolDir, free, need } },
    );
  }

  /** A connection to a node of this shard (INFO for the lag, the heartbeat), on the task's signal. */
  private connectTo(e: Endpoint): Promise<RespConnection> {
    return connectEndpoint(e, this.ctx.signal, { commandMs: 30_000 });
  }

  /** Refreshes lag and progress, persists the checkpoint, emits the metrics event. */
  private async tick(): Promise<void> {
    const m = this.metrics;
    let sourceRead: number | undefined;
    try {
      if (this.heartbeatConn?.open && m.phase === 'streaming') {
        await this.heartbeatConn.send(['SET', this.heartbeatKey, Date.now(), 'PX', 60_000]);
      }
      if (this.info?.open) {
        const asked = Date.now();
        const text = String(await this.info.send(['INFO', 'replication']));
        const off = /master_repl_offset:(\d+)/.exec(text);
        if (off) {
          m.sourceOffset = Number(off[1]);
          sourceRead = asked;
        }
      }
    } catch {
      // the next tick tries again; the link itself reports a dead source
    }
    m.receivedOffset = this.link?.offset ?? 0;
    m.appliedOffset = this.applied;
    if (m.phase === 'streaming') {
      m.lagBytes = Math.max(0, Math.max(m.sourceOffset, m.receivedOffset) - this.applied);
      if (sourceRead) m.lagMeasuredAt = sourceRead;
      if (!this.ctx.options.sourceHeartbeat) m.lagMs = this.estimateLagMs();
      this.ctx.emit('stream:lag', { taskId: this.ctx.taskId, ...m });
      if (Date.now() - this.lastSaved >= CHECKPOINT_EVERY_MS)
        await this.saveCheckpoint(true).catch(() => undefined);
    } else if (m.phase === 'snapshot') {
      this.ctx.emit('rdb:progress', { taskId: this.ctx.taskId, ...m });
    }
  }

  private rateSamples: Array<{ at: number; applied: number }> = [];

  /** Without a heartbeat: the byte lag over the recent apply rate (0 when caught up). */
  private estimateLagMs(): number | undefined {
    const now = Date.now();
    this.rateSamples.push({ at: now, applied: this.applied });
    while (this.rateSamples.length > 10) this.rateSamples.shift();
    if (this.metrics.lagBytes === 0) return 0;
    const first = this.rateSamples[0];
    if (!first || now - first.at < 500) return undefined;
    const rate = (this.applied - first.applied) / ((now - first.at) / 1000);
    return rate > 0 ? Math.round((this.metrics.lagBytes / rate) * 1000) : undefined;
  }

  private async saveCheckpoint(snapshotDone: boolean): Promise<void> {
    this.lastSaved = Date.now();
    await this.ctx.saveCheckpoint({
      replid: this.replid,
      offset: this.applied,
      db: this.appliedDb,
      snapshotDone,
      ...(this.ctx.targetOwned ? { targetWasEmpty: true } : {}),
      dbs: [...this.wrote].sort((a, b) => a - b),
      identity: this.ctx.identity,
      updatedAt: Date.now(),
    });
  }

  private fail(err: unknown): void {
    if (!this.failure) this.failure = err instanceof Error ? err : new Error(String(err));
    this.metrics.errors[isFerryError(err) ? err.code : 'ERROR'] =
      (this.metrics.errors[isFerryError(err) ? err.code : 'ERROR'] ?? 0) + 1;
  }

  // ---------------------------------------------------------------- snapshot

  private async loadSnapshot(
    start: Extract<SyncStart, { mode: 'full' | 'sync' }>,
    rewriting: boolean,
  ): Promise<void> {
    const { ctx } = this;
    const { options, signal } = ctx;
    this.metrics.phase = 'snapshot';
    this.metrics.snapshotBytesTotal = start.snapshotBytes;
    await this.estimateKeys();
    if (rewriting) await this.dropEarlierPass();
    await this.clearDomains();
    // from here on the target holds keys of this task: a later pass must replace them
    this.applied = start.offset;
    await this.saveCheckpoint(false);
    // a task writing its snapshot again (a retry, a refused resume) replaces what it wrote before
    const replace = options.conflict === 'replace' || rewriting;
    const link = this.link as ReplicaLink;
    const job: SnapshotJob = {
      replace,
      ...(start.snapshotBytes !== undefined ? { snapshotBytes: start.snapshotBytes } : {}),
      ...(link.snapshotPath ? { path: link.snapshotPath } : {}),
    };
    if (ctx.snapshotWorker && job.path) await this.writeSnapshotInWorker(link, job);
    else await this.writeSnapshot(link.snapshot(signal), job);
  }

  /**
   * Parses the snapshot and writes its keys to the target: on the task's thread, or (the same code)
   * on a snapshot worker thread of its own, see `snapshot-worker.ts`.
   * @internal
   */
  async writeSnapshot(input: AsyncIterable<Buffer>, job: SnapshotJob): Promise<void> {
    const { ctx } = this;
    const { writer, mapper, options, signal, limiter } = ctx;
    const replace = job.replace;
    const abs = writer.atLeast('5.0.0');
    const targetRdb = rdbVersionOf(writer.version);
    const parser = new RdbParser(input, {
      rawLimit: options.bigKeyThreshold,
      checksumThread: (job.snapshotBytes ?? Number.POSITIVE_INFINITY) > 16 << 20,
      // the thread reads the spool itself: no chunk copied to it
      ...(job.path ? { checksumFile: job.path } : {}),
    });
    job.onOpened?.();
    // commands written and not yet acknowledged, at most maxInflight, and their values' bytes, at
    // most maxInFlightBytes: a window of big values cannot pile up in memory
    let inflight = 0;
    let inflightBytes = 0;
    const waiters: Array<() => void> = [];
    const pass = this.pass;
    const track = (p: Promise<unknown>, weight = 1, bytes = 0): void => {
      inflight += weight;
      inflightBytes += bytes;
      this.ownWork(
        p
          .then(
            () => undefined,
            (err: unknown) => this.failPass(pass, err),
          )
          .finally(() => {
            inflight -= weight;
            inflightBytes -= bytes;
            waiters.shift()?.();
          }),
      );
    };
    const maxInflight = options.maxInFlight * Math.max(1, writer.masters().length);
    const now = (): number => Date.now();
    let firstKeyAt: number | undefined;
    for await (const batch of parser.batches(SNAPSHOT_BATCH)) {
      firstKeyAt ??= performance.now();
      if (this.failure) throw this.failure;
      signal.throwIfAborted();
      const gate = ctx.gate();
      if (gate) await gate;
      this.metrics.snapshotBytes = parser.offset;
      // RESTOREs of values already in memory go out as one unit per target node and db
      const bulk = new Map<string, BulkGroup>();
      let bulkBytes = 0;
      const sendBulk = (): void => {
        for (const g of bulk.values())
          track(
            this.restoreBulk(g),
            g.items.length,
            g.items.reduce((n, it) => n + it.value.length, 0),
          );
        bulk.clear();
        bulkBytes = 0;
      };
      for (const e of batch) {
        if (e.kind === 'function') {
          if (!writer.atLeast('7.0.0')) {
            this.warnOnce('the source has Redis functions; the target (before 7.0) cannot load them');
            continue;
          }
          if (writer.proxy) {
            this.warnOnce(
              `the source has Redis functions; a ${writer.proxy} target cannot load them (load them on its servers)`,
            );
            continue;
          }
          await writer.broadcast(0, ['FUNCTION', 'LOAD', 'REPLACE', e.code]);
          continue;
        }
        if (e.kind === 'module-aux') {
          this.warnOnce(`the snapshot carries data of module ${e.name}: the target needs that module loaded`);
          continue;
        }
        if (e.kind !== 'key') continue;
        const route = mapper.route(e.db);
        if (this.own.is(e.key)) {
          this.metrics.skippedKeys++; // Ferry's own keys (a heartbeat) are not migrated
          continue;
        }
        if (
          !route ||
          (mapper.filter && !mapper.filter(e.key)) ||
          (e.expireAtMs !== undefined && e.expireAtMs <= now())
        ) {
          this.metrics.skippedKeys++;
          continue;
        }
        // a batch of big values already read goes out before more are read (it counts too)
        if (bulkBytes > 0 && inflightBytes + bulkBytes >= options.maxInFlightBytes) sendBulk();
        while (inflight >= maxInflight || (inflight > 0 && inflightBytes >= options.maxInFlightBytes))
          await new Promise<void>((r) => waiters.push(r));
        if (this.failure) throw this.failure;
        const raw = e.captured ?? (await e.raw());
        if (e.empty) {
          this.metrics.skippedKeys++;
          continue;
        }
        if (limiter.active) {
          await limiter.take(1, raw?.length ?? e.sizeHint.bytes ?? 0, signal);
          // under a rate limit one batch lasts long: a pause holds at the next key, not the next batch
          const held = ctx.gate();
          if (held) await held;
        }
        const key = mapKey(e.key, route.prefix);
        if (key.length > writer.maxKeyBytes) {
          this.metrics.skippedKeys++;
          this.unsupported(
            `key ${JSON.stringify(`${key.subarray(0, 60).toString('latin1')}…`)} (${key.length} bytes) was not written: longer than the target takes (${writer.maxKeyBytes} bytes)`,
            key.subarray(0, 200),
            'RESTORE',
          );
          continue;
        }
        this.checkOwner(e.key);
        this.noteDb(route.db);
        const slot = writer.cluster ? keySlot(key) : undefined;
        this.metrics.keys++;
        const useRestore =
          raw !== undefined &&
          (options.writeMode === 'restore' ||
            (this.restoreAllowed &&
              (parser.version <= targetRdb || e.type === 'module' || !writer.versionKnown)));
        if (useRestore) {
          const absttl = e.expireAtMs !== undefined && abs;
          const ttl = e.expireAtMs === undefined ? 0 : abs ? e.expireAtMs : Math.max(1, e.expireAtMs - now());
          if (e.captured) {
            const id = writer.cluster ? writer.nodeName(slot) : String(route.db);
            let g = bulk.get(id);
            if (!g) {
              g = {
                db: route.db,
                slot,
                items: [],
                rdbVersion: parser.version,
                replace,
                absttl: abs,
              };
              bulk.set(id, g);
            }
            g.items.push({ route, slot, key, e, value: raw, ttl, rdbType: e.rdbType, replace, absttl });
            bulkBytes += raw.length;
          } else {
            const r = { ttl, rdbVersion: parser.version, replace, absttl };
            track(this.restore(route, slot, key, restoreArgs(key, e.rdbType, raw, r), e, raw), 1, raw.length);
          }
        } else if (e.captured) {
          track(this.rewrite(route, slot, key, e, raw, replace), 1, raw?.length ?? 0);
        } else {
          // the value is still in the stream: read it before the parser moves on
          await this.rewrite(route, slot, key, e, raw, replace).catch((err: unknown) => this.fail(err));
        }
      }
      sendBulk();
    }
    while (inflight > 0) await new Promise<void>((r) => waiters.push(r));
    if (this.failure) throw this.failure;
    this.metrics.snapshotBytes = parser.offset;
    this.metrics.snapshotWriteMs = firstKeyAt === undefined ? 0 : performance.now() - firstKeyAt;
  }

  /** One unit of RESTOREs; a key the target did not take is sent again alone, where its error is dealt with. */
  private async restoreBulk(g: BulkGroup): Promise<void> {
    const unit = encodeRestores(g.items, g.rdbVersion);
    const replies = await this.ctx.writer.sendBulk(g.db, g.slot, [unit], g.items.length);
    for (let i = 0; i < replies.length; i++) {
      if (!(replies[i] instanceof ReplyError)) continue;
      const it = g.items[i] as BulkItem;
      await this.restore(
        it.route,
        it.slot,
        it.key,
        restoreArgs(it.key, it.rdbType, it.value, {
          ttl: it.ttl,
          rdbVersion: g.rdbVersion,
          replace: it.replace,
          absttl: it.absttl,
        }),
        it.e,
        it.value,
      );
    }
  }

  private async restore(
    route: DbRoute,
    slot: number | undefined,
    key: Buffer,
    args: Arg[],
    e: KeyEntry,
    raw: Buffer,
  ): Promise<void> {
    const { writer, options } = this.ctx;
    try {
      await writer.send(route.db, slot, args, { idempotent: true });
    } catch (err) {
      const reply = err instanceof FerryError && err.cause instanceof ReplyError ? err.cause : undefined;
      if (reply && /BUSYKEY/.test(reply.message)) {
        this.keyExists(key, err);
        return;
      }
      // the target cannot take this payload (older RDB version, RESTORE disabled or renamed): rewrite
      if (
        reply &&
        options.writeMode === 'auto' &&
        e.type !== 'module' &&
        /DUMP payload version|Bad data format|unknown command|NOPERM/i.test(reply.message)
      ) {
        if (this.restoreAllowed) {
          this.restoreAllowed = false;
          this.warnOnce(
            `the target refused RESTORE (${reply.message}): switching to the rewrite path`,
            key,
            'RESTORE',
          );
        }
        await this.rewrite(route, slot, key, e, raw, args.includes('REPLACE'));
        return;
      }
      if (reply && /DUMP payload version|Bad data format/i.test(reply.message)) {
        throw new FerryError(
          'TARGET_WRITE_FAILED',
          `target refused the serialized value of ${JSON.stringify(key.toString('latin1'))} (${reply.message}): it is older than the source; use --write-mode rewrite`,
          { cause: err },
        );
      }
      throw err;
    }
  }

  /**
   * Rebuilds a value with type-specific commands into a temporary key in the same slot, then
   * renames it over the key: a retry never duplicates elements, readers never see half a value.
   */
  private async rewrite(
    route: DbRoute,
    slot: number | undefined,
    key: Buffer,
    e: KeyEntry,
    raw: Buffer | undefined,
    replace: boolean,
  ): Promise<void> {
    const { writer } = this.ctx;
    if (writer.proxy) {
      await this.rewriteInPlace(route, key, e, raw, replace);
      return;
    }
    const tmp = Buffer.from(
      // named per shard: two shards' keys in one target slot never share one
      `${this.own.prefix}tmp:{${slotTag(slot ?? keySlot(key))}}:${this.ctx.taskId}:${this.ctx.shard.id}:${this.metrics.keys}`,
    );
    const send = (cmds: Arg[][]): Promise<unknown> =>
      cmds.length ? writer.sendGroup(route.db, slot, cmds, false, { idempotent: true }) : Promise.resolve();
    await send([['DEL', tmp]]);
    const chunks = raw !== undefined && e.captured ? (e.decoded() ?? []) : undefined;
    try {
      if (chunks) {
        const cmds: Arg[][] = [];
        for (const c of chunks) cmds.push(...this.rewriter.commands(tmp, c));
        await send(cmds);
      } else {
        for await (const c of e.chunks()) await send(this.rewriter.commands(tmp, c));
      }
    } finally {
      this.rewriter.endValue();
    }
    const tail: Arg[][] = [];
    if (e.expireAtMs !== undefined) tail.push(['PEXPIREAT', tmp, e.expireAtMs]);
    tail.push([replace ? 'RENAME' : 'RENAMENX', tmp, key]);
    const replies = await writer.sendGroup(route.db, slot, tail, false, { idempotent: true });
    if (!replace && replies[replies.length - 1] === 0) {
      await send([['DEL', tmp]]);
      this.keyExists(key);
      return;
    }
  }

  /**
   * The rewrite path behind a proxy, which has no RENAME: the key itself is emptied and rebuilt
   * (readers may see it partly written; a retry empties it again first). Values the proxy cannot
   * write (a stream through twemproxy) are reported and left out.
   */
  private async rewriteInPlace(
    route: DbRoute,
    key: Buffer,
    e: KeyEntry,
    raw: Buffer | undefined,
    replace: boolean,
  ): Promise<void> {
    const { writer } = this.ctx;
    const proxy = writer.proxy as ProxyKind;
    if (!replace && Number(await writer.send(route.db, undefined, ['EXISTS', key])) === 1) {
      this.keyExists(key);
      return;
    }
    const send = async (cmds: Arg[][]): Promise<boolean> => {
      for (const c of cmds) {
        const why = proxyRefuses(proxy, String(c[0]).toLowerCase(), [key]);
        if (why) {
          this.warnOnce(
            `key ${JSON.stringify(key.toString('latin1'))} (${e.type}) was not written: ${why}`,
            key,
            String(c[0]),
          );
          this.metrics.skippedKeys++;
          await writer.send(route.db, undefined, ['DEL', key], { idempotent: true });
          return false;
        }
      }
      if (cmds.length) await writer.sendGroup(route.db, undefined, cmds, false, { idempotent: true });
      return true;
    };
    await writer.send(route.db, undefined, ['DEL', key], { idempotent: true });
    const chunks = raw !== undefined && e.captured ? (e.decoded() ?? []) : undefined;
    try {
      if (chunks) {
        const cmds: Arg[][] = [];
        for (const c of chunks) cmds.push(...this.rewriter.commands(key, c));
        if (!(await send(cmds))) return;
      } else {
        for await (const c of e.chunks()) if (!(await send(this.rewriter.commands(key, c)))) return;
      }
    } finally {
      this.rewriter.endValue();
    }
    if (e.expireAtMs !== undefined) await send([['PEXPIREAT', key, e.expireAtMs]]);
  }

  /** The key is already on the target: skipped under the "skip" policy, else the task fails saying so. */
  private keyExists(key: Buffer, cause?: unknown): void {
    if (this.ctx.options.conflict === 'skip') {
      this.metrics.skippedKeys++;
      return;
    }
    throw new FerryError(
      'TARGET_WRITE_FAILED',
      `key ${JSON.stringify(key.toString('latin1'))} already exists on the target (conflict policy "fail"; use --conflict replace or skip)`,
      cause === undefined ? undefined : { cause },
    );
  }

  /** This shard's slots as a mask, with its scheme's slot function; undefined without slots. */
  private slotMask(): { mask: Uint8Array; slotOf: (key: Buffer) => number } | undefined {
    const { slots, slotScheme } = this.ctx.shard;
    if (!slots) return undefined;
    const codis = slotScheme === 'codis';
    const mask = new Uint8Array(codis ? CODIS_SLOTS : SLOTS);
    for (const [a, b] of slots) mask.fill(1, a, b + 1);
    return { mask, slotOf: codis ? codisSlot : keySlot };
  }

  /** The slot mask the stray check uses: only where several shards write one target (null: none). */
  private ownSlots: ReturnType<ShardRunner['slotMask']> | null | undefined;
  private strayed = false;

  /** Whether checkOwner has anything to check (several shards, this one with slots). */
  get tracksOwners(): boolean {
    if (this.ownSlots === undefined) this.ownSlots = (this.ctx.shardCount > 1 && this.slotMask()) || null;
    return this.ownSlots !== null;
  }

  /**
   * A key of this shard's source about to be written: one outside the shard's slots (and not of a
   * slot known to be moving) is noted first, so that no re-snapshot of the task takes it for a stale
   * key of the shard whose slot it is (see MovedKeys.strays).
   */
  checkOwner(key: Buffer): void {
    if (!this.tracksOwners) return;
    const own = this.ownSlots as NonNullable<ShardRunner['ownSlots']>;
    const home = own.slotOf(key);
    if (own.mask[home] || this.ctx.moved.unsettledSlots.has(home)) return;
    this.ctx.moved.stray();
    if (this.strayed) return;
    this.strayed = true;
    this.warnOnce(
      `${this.name} holds keys outside the slots it was found with (${JSON.stringify(key.subarray(0, 60).toString('latin1'))} the first): a router of the source does not read them there; Ferry copies them, and no re-snapshot of this task removes keys by slot`,
      key.subarray(0, 200),
    );
  }

  /**
   * Before a snapshot is written again (a retry after a cut, a refused resume): what an earlier
   * pass wrote goes, as a Redis replica empties itself before it loads a new RDB. REPLACE alone is
   * not enough: a key that pass wrote and the source deleted before this snapshot's fork is in no
   * snapshot and would stay (a later APPEND or LPUSH then grows the stale value).
   *
   * Only what is certainly this shard's is removed: the target must have been empty when the task
   * started (else a stale key cannot be told from the user's own), and with several source shards
   * only keys of this shard's slots (a cluster source, a Codis group) go, and none once a source held
   * a key outside its shard's slots (MovedKeys.strays). Otherwise the risk is said, not taken.
   */
  private async dropEarlierPass(): Promise<void> {
    const { ctx } = this;
    const w = ctx.writer;
    const cannot = (why: string): void =>
      this.warnOnce(
        `full resync of ${this.name}: ${why}, so keys the source deleted since the earlier snapshot may remain on the target; verify after the migration (ferry verify) and remove extra keys it reports`,
      );
    if (w.proxy) return cannot(`the target is a ${w.proxy} proxy and cannot be emptied through it`);
    if (!ctx.targetOwned)
      return cannot('the target held keys when the task started (they cannot be told from stale ones)');
    // only dbs this task wrote to: another client's db is not the task's to empty
    const dbs = this.wroteKnown
      ? targetDbs(ctx.mapper, w.cluster).filter((db) => this.wrote.has(db))
      : targetDbs(ctx.mapper, w.cluster);
    if (ctx.shardCount === 1) {
      if (dbs.length === 0) return;
      const flush: Arg[] = w.atLeast('4.0.0') ? ['FLUSHDB', 'ASYNC'] : ['FLUSHDB'];
      ctx.targetFlush?.begin();
      try {
        for (const db of dbs) await w.broadcast(db, flush);
      } finally {
        await ctx.targetFlush?.end();
      }
      this.ctx.emit('task:warning', {
        taskId: ctx.taskId,
        shardId: ctx.shard.id,
        message: `full resync of ${this.name}: the target (db ${dbs.join(', ')}) emptied first, as it held only this task's keys`,
      });
      return;
    }
    const own = this.slotMask();
    if (!own) return cannot("the source topology does not say which keys are this shard's");
    const strays = (): string =>
      `the source held ${ctx.moved.strays} key(s) outside their shard's slots (a key of this shard's slots on the target may be another shard's)`;
    if (ctx.moved.strays > 0) return cannot(strays());
    const { mask: mine, slotOf } = own;
    let unsettled = 0;
    for (const s of ctx.moved.unsettledSlots) if (mine[s]) unsettled++;
    for (const s of ctx.moved.unsettledSlots) mine[s] = 0;
    // target keys back to source keys: the prefixes the db map and rename prefix add
    const prefixes = new Map<number, Buffer[]>();
    for (let db = 0; db < 16; db++) {
      const r = ctx.mapper.route(db);
      if (!r?.prefix) continue;
      const list = prefixes.get(r.db) ?? [];
      if (!list.some((p) => p.equals(r.prefix as Buffer))) list.push(r.prefix);
      prefixes.set(
        r.db,
        list.sort((x, y) => y.length - x.length),
      );
    }
    let removed = 0;
    for (const nodeSlot of w.masterSlots()) {
      for (const db of dbs) {
        for await (const page of w.scan(db, w.cluster ? nodeSlot : undefined)) {
          const doomed: Buffer[] = [];
          for (const k of page) {
            if (this.own.is(k)) continue; // checkpoint keys: this shard's are cleared next, the others' are theirs
            const p = prefixes
              .get(db)
              ?.find((x) => k.length >= x.length && k.subarray(0, x.length).equals(x));
            if (mine[slotOf(p ? k.subarray(p.length) : k)]) doomed.push(k);
          }
          // a stray key another shard wrote in the meantime: noted before it was written, so before
          // this page was read
          if (ctx.moved.strays > 0) return cannot(`${strays()} (${removed} key(s) already removed)`);
          await Promise.all(doomed.map((k) => w.send(db, w.cluster ? keySlot(k) : undefined, ['DEL', k])));
          removed += doomed.length;
        }
      }
    }
    this.ctx.emit('task:warning', {
      taskId: ctx.taskId,
      shardId: ctx.shard.id,
      message: `full resync of ${this.name}: ${removed} key(s) of its slots removed from the target first${unsettled > 0 ? `; ${unsettled} of its slots moved between source shards during the task and were left alone (keys the source deleted there may remain: verify after the migration)` : ''}`,
    });
  }

  private async estimateKeys(): Promise<void> {
    try {
      const text = String(await this.info?.send(['INFO', 'keyspace']));
      let total = 0;
      for (const m of text.matchAll(/^db(\d+):keys=(\d+)/gm)) {
        total += Number(m[2]);
        // the snapshot will write there: recorded before it does (a crash mid-way keeps it known)
        const route = this.ctx.mapper.route(Number(m[1]));
        if (route) this.noteDb(this.ctx.writer.cluster ? 0 : route.db);
      }
      this.metrics.keysTotal = total;
    } catch {
      this.metrics.keysTotal = undefined;
    }
  }

  // ---------------------------------------------------------------- stream

  private domainKey(slot: number): Buffer {
    const w = this.ctx.writer;
    const tag = w.cluster ? `{${slotTag(slot)}}` : '';
    return Buffer.from(`${this.own.prefix}ckpt:${tag}:${this.ctx.taskId}:${this.ctx.shard.id}`);
  }

  /** Every checkpoint key of this shard on the target, per master. */
  private async domainKeys(): Promise<Array<{ slot: number; keys: Buffer[] }>> {
    const w = this.ctx.writer;
    // one target node: one key, no SCAN (which proxies do not have)
    if (!w.cluster) return [{ slot: 0, keys: [this.domainKey(0)] }];
    const pattern = `${this.own.prefix}ckpt:*:${this.ctx.taskId}:${this.ctx.shard.id}`;
    const out: Array<{ slot: number; keys: Buffer[] }> = [];
    for (const slot of w.masterSlots()) {
      const keys: Buffer[] = [];
      for await (const page of w.scan(0, w.cluster ? slot : undefined, { match: pattern }))
        keys.push(...page);
      out.push({ slot, keys });
    }
    return out;
  }

  /** Reads what the target says was applied per domain (after a restart): those commands are not replayed. */
  private async loadDomains(): Promise<void> {
    const w = this.ctx.writer;
    this.domainDone.clear();
    for (const { slot: nodeSlot, keys } of await this.domainKeys()) {
      for (const k of keys) {
        const slot = w.cluster ? keySlot(k) : 0;
        const v = (await w.send(0, w.cluster ? slot : nodeSlot, ['GET', k])) as Buffer | null;
        if (!v) continue;
        const [replid, offset] = v.toString().split(' ');
        // after a failover the primary continues the old history under a new replid, same offsets
        if (replid === this.replid || (this.resumedFrom !== '' && replid === this.resumedFrom))
          this.domainDone.set(slot, Number(offset));
      }
    }
  }

  private async clearDomains(): Promise<void> {
    const w = this.ctx.writer;
    for (const { keys } of await this.domainKeys()) {
      for (const k of keys) await w.send(0, w.cluster ? keySlot(k) : undefined, ['DEL', k]);
    }
    this.domainDone.clear();
  }

  /** Removes this shard's checkpoint keys from the target (when the task completes). */
  async cleanupTarget(): Promise<void> {
    await this.clearDomains();
  }

  private async stream(link: ReplicaLink): Promise<void> {
    const { ctx } = this;
    const pass = this.pass;
    const queue: Pending[] = [];
    let batch = new StreamBatch(this);
    let timer: NodeJS.Timeout | undefined;
    const flush = (): void => {
      if (timer) {
        clearTimeout(timer);
        timer = undefined;
      }
      if (batch.inTransaction || batch.empty) return;
      const b = batch;
      batch = new StreamBatch(this);
      const done = this.ownWork(b.send().catch((err: unknown) => this.failPass(pass, err)));
      queue.push({ offset: b.lastOffset, db: this.sourceDb, done });
      void this.advance(queue);
    };
    const it = link.commandBatches(ctx.signal)[Symbol.asyncIterator]();
    try {
      for (;;) {
        if (this.failure) throw this.failure;
        if (this.stopRequested || (this.completeRequested && this.caughtUp())) break;
        const gate = ctx.gate();
        if (gate) {
          flush();
          await gate;
          continue;
        }
        const next = await nextOrIdle(it, 200);
        if (next === IDLE) {
          flush();
          continue;
        }
        if (next.done) break;
        const paused = ctx.gate(); // paused while this read was pending: hold it until resumed
        if (paused) {
          flush();
          await paused;
        }
        if (this.stopRequested) break;
        // what the spool held at this read: applied as it comes, in units of STREAM_BATCH commands
        for (const cmd of next.value) {
          batch.add(cmd);
          if (batch.size >= STREAM_BATCH) {
            flush();
            while (queue.length >= MAX_BATCHES_IN_FLIGHT) await queue[0]?.done;
          }
        }
        this.metrics.commands += next.value.length;
        flush();
        // a source transaction cut by the read is sent once its EXEC arrives
        if (batch.inTransaction && !timer) timer = setTimeout(flush, 2);
        while (queue.length >= MAX_BATCHES_IN_FLIGHT) await queue[0]?.done;
        if (ctx.limiter.active) await ctx.limiter.take(next.value.length, 0, ctx.signal);
      }
      flush();
      await Promise.all(queue.map((p) => p.done));
      await this.advance(queue);
      if (this.failure) throw this.failure;
      await this.saveCheckpoint(true);
    } finally {
      if (timer) clearTimeout(timer);
      // a read still waits for the source's next bytes (its PING, up to 10 s away): the link is
      // done with once the stream ends, so it is closed first and the read ends at once (a stop
      // answers within a second, not at the source's next PING)
      link.close();
      await it.return?.(undefined);
    }
  }

  private caughtUp(): boolean {
    const received = this.link?.offset ?? 0;
    return this.applied >= received && this.applied >= this.metrics.sourceOffset;
  }

  private advancing = false;
  /** Passes run so far (a retry is a new pass), and the writes of the current one still in flight. */
  private pass = 0;
  private readonly passWork = new Set<Promise<unknown>>();

  /** Counts `p` among this pass's writes in flight (a retry waits for them) until it settles. */
  /**
   * Lets the writes of the pass so far settle (bounded: a target that never answers fails the
   * next pass's writes the same way); nothing of them touches what comes after.
   */
  async settleWrites(ms = 30_000): Promise<void> {
    const leftover = [...this.passWork];
    this.passWork.clear();
    if (leftover.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled(leftover),
      new Promise<void>((r) => {
        timer = setTimeout(r, ms);
        timer.unref();
      }),
    ]);
    clearTimeout(timer);
  }

  /** Whether keys may go as RESTORE (false once the target refused one: the rewrite path). */
  get restoreAllowedForSnapshot(): boolean {
    return this.restoreAllowed;
  }

  set restoreAllowedForSnapshot(v: boolean) {
    this.restoreAllowed = v;
  }

  /**
   * `writeSnapshot` on a worker thread of this shard's own (see snapshot-worker.ts): the link's
   * payload is drained here only to tell the worker how far the spool file is written.
   */
  private async writeSnapshotInWorker(link: ReplicaLink, job: SnapshotJob): Promise<void> {
    const { ctx } = this;
    const spec = ctx.snapshotWorker as SnapshotWorkerSpec;
    const data: SnapshotWorkerData = {
      taskId: ctx.taskId,
      shard: ctx.shard,
      shardCount: ctx.shardCount,
      target: spec.target,
      options: ctx.options,
      rate: spec.rate(),
      forceDb0: spec.forceDb0,
      spoolDir: ctx.spoolDir,
      path: job.path as string,
      ...(job.snapshotBytes !== undefined ? { snapshotBytes: job.snapshotBytes } : {}),
      replace: job.replace,
      restoreAllowed: this.restoreAllowed,
    };
    const worker = new Worker(snapshotWorkerUrl(), { workerData: data, execArgv: workerExecArgv() });
    this.metrics.snapshotThread = true;
    const exited = new Promise<void>((r) => worker.once('exit', () => r()));
    // a thread stuck on a target that never answers is ended once the retry stopped waiting for it
    const stop = (): void => {
      const kill = setTimeout(() => void worker.terminate(), 35_000);
      kill.unref();
      void exited.then(() => clearTimeout(kill));
    };
    // the next pass starts only once this thread's writes are settled (see run())
    void this.ownWork(exited);
    const base = {
      keys: this.metrics.keys,
      skippedKeys: this.metrics.skippedKeys,
      errors: { ...this.metrics.errors },
    };
    const merge = (m: Partial<ShardMetrics>): void => {
      const { keys = 0, skippedKeys = 0, errors, ...rest } = m;
      Object.assign(this.metrics, rest);
      this.metrics.keys = base.keys + keys;
      this.metrics.skippedKeys = base.skippedKeys + skippedKeys;
      for (const [k, v] of Object.entries(errors ?? {})) this.metrics.errors[k] = (base.errors[k] ?? 0) + v;
    };
    let opened!: () => void;
    const isOpen = new Promise<void>((r) => (opened = r));
    let settle!: { resolve: () => void; reject: (e: Error) => void };
    const outcome = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
    worker.on('message', (m: WorkerMessage) => {
      if (m.t === 'opened') opened();
      else if (m.t === 'stray') ctx.moved.stray();
      else if (m.t === 'db') this.noteDb(m.db);
      else if (m.t === 'metrics') merge(m.m);
      else if (m.t === 'event') ctx.emit(m.name as keyof TaskEvents, m.payload as never);
      else if (m.t === 'done') {
        merge(m.m);
        this.restoreAllowed = m.restoreAllowed;
        settle.resolve();
      } else if (m.t === 'failed')
        settle.reject(m.code ? new FerryError(m.code as FerryErrorCode, m.message) : new Error(m.message));
    });
    worker.on('error', (err) => settle.reject(err));
    void exited.then(() =>
      settle.reject(new Error(`the snapshot thread of ${this.name} ended without a result`)),
    );
    const onAbort = (): void => {
      worker.postMessage({ t: 'abort' });
      stop();
    };
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    // pauses and rate changes reach the worker within a tick
    let pausedSent = false;
    const relay = setInterval(() => {
      const paused = ctx.gate() !== undefined;
      if (paused !== pausedSent) worker.postMessage({ t: paused ? 'pause' : 'resume' });
      pausedSent = paused;
      const rate = spec.rate();
      if (JSON.stringify(rate) !== JSON.stringify(data.rate)) {
        data.rate = rate;
        worker.postMessage({ t: 'rate', limit: rate });
      }
    }, 100);
    try {
      await Promise.race([isOpen, outcome]);
      let n = 0;
      const drain = (async () => {
        for await (const c of link.snapshot(ctx.signal)) {
          n += c.length;
          worker.postMessage({ t: 'avail', n });
        }
        worker.postMessage({ t: 'end', n });
      })();
      await Promise.all([drain, outcome]);
      if (this.failure) throw this.failure;
    } catch (err) {
      worker.postMessage({ t: 'abort' });
      stop();
      throw err;
    } finally {
      clearInterval(relay);
      ctx.signal.removeEventListener('abort', onAbort);
      void outcome.catch(() => undefined);
    }
  }

  private ownWork(p: Promise<void>): Promise<void> {
    this.passWork.add(p);
    void p.finally(() => this.passWork.delete(p));
    return p;
  }

  /** A failure of pass `pass`'s writes: this pass's failure, unless a retry has begun since. */
  private failPass(pass: number, err: unknown): void {
    if (pass === this.pass) this.fail(err);
  }

  /** Moves the applied offset over the batches the target has acknowledged, in order. */
  private async advance(queue: Pending[]): Promise<void> {
    if (this.advancing) return;
    this.advancing = true;
    const pass = this.pass;
    try {
      while (queue.length > 0) {
        const head = queue[0] as Pending;
        await head.done;
        if (this.failure || pass !== this.pass) return;
        if (head.offset > this.applied) {
          this.applied = head.offset;
          this.appliedDb = head.db;
        }
        this.metrics.appliedOffset = this.applied;
        queue.shift();
      }
    } finally {
      if (pass === this.pass) this.advancing = false;
    }
  }

  /** @internal */
  get context(): ShardContext {
    return this.ctx;
  }
  /** @internal */
  alreadyApplied(domain: number, offset: number): boolean {
    const done = this.domainDone.get(domain);
    return done !== undefined && offset <= done;
  }
  /** @internal */
  domainCheckpointCommand(domain: number, offset: number): Arg[] {
    return ['SET', this.domainKey(domain), `${this.replid} ${offset}`];
  }
  /** @internal */
  warn(message: string, key?: Buffer, command?: string): void {
    this.warnOnce(message, key, command);
  }
  private unsupportedShown = 0;
  /** @internal a command the target cannot take: an event per key and command (the first 1000), counted always */
  unsupported(message: string, key: Buffer | undefined, command: string): void {
    this.metrics.unsupported = this.metrics.unsupported ?? {};
    this.metrics.unsupported[command] = (this.metrics.unsupported[command] ?? 0) + 1;
    if (this.warned.has(message)) return;
    if (this.unsupportedShown++ < 1000) this.warnOnce(message, key, command);
    else if (this.unsupportedShown === 1001)
      this.warnOnce(
        'more commands the target cannot take were not applied: their counts are in the shard metrics (unsupported)',
      );
  }
  /** @internal the source key the heartbeat is written to */
  get heartbeatKey(): Buffer {
    this.heartbeatKeyBuf ??= this.own.heartbeat(this.ctx.taskId);
    return this.heartbeatKeyBuf;
  }
  private heartbeatKeyBuf: Buffer | undefined;
  /** @internal */
  heartbeat(value: Buffer): void {
    const sent = Number(value.toString());
    if (Number.isFinite(sent)) this.metrics.lagMs = Math.max(0, Date.now() - sent);
  }
}

function sameNode(a: Endpoint, b: Endpoint): boolean {
  return a.host === b.host && a.port === b.port;
}

/** Where a shard is read from: its first replica unless told to follow the primary. */
function pickSource(s: ShardSpec): Endpoint {
  return (s.preferReplica === false ? undefined : s.replicas[0]) ?? s.primary;
}

const IDLE = Symbol('idle');

/** The iterator's next value, or IDLE when none came within `ms` (the pending next() is kept). */
function nextOrIdle<T>(it: AsyncIterator<T>, ms: number): Promise<IteratorResult<T> | typeof IDLE> {
  const pending = (it as { pendingNext?: Promise<IteratorResult<T>> }).pendingNext ?? it.next();
  (it as { pendingNext?: Promise<IteratorResult<T>> }).pendingNext = pending;
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    pending.then((r) => {
      (it as { pendingNext?: Promise<IteratorResult<T>> }).pendingNext = undefined;
      return r;
    }),
    new Promise<typeof IDLE>((r) => {
      timer = setTimeout(() => r(IDLE), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

interface Group {
  /** Target db the group starts in, and the one its SELECTs leave it in (standalone). */
  db: number;
  endDb: number;
  slot: number | undefined;
  cmds: WireCommand[];
  unsafe: boolean;
  lastOffset: number;
}

/**
 * Commands of the stream on their way to the target. A standalone target gets one group (SELECTs
 * inside); a cluster target one group per slot. A group holding a command that is not replay-safe
 * is sent in MULTI/EXEC with its checkpoint key, so after a crash the target itself says whether it
 * was applied.
 */
class StreamBatch {
  private readonly groups = new Map<number, Group>();
  private readonly order: Array<Group | { broadcast: Arg[]; db: number }> = [];
  /** Source transaction being collected (MULTI seen, EXEC not yet). */
  private tx: StreamCommand[] | undefined;
  size = 0;
  lastOffset = 0;

  constructor(private readonly shard: ShardRunner) {}

  get empty(): boolean {
    return this.size === 0 && this.lastOffset === 0;
  }

  get inTransaction(): boolean {
    return this.tx !== undefined;
  }

  add(cmd: StreamCommand): void {
    this.lastOffset = cmd.offset;
    const name = commandName(cmd.argv);
    if (this.tx) {
      if (name === 'exec') {
        const tx = this.tx;
        this.tx = undefined;
        this.addTransaction(tx);
      } else if (name === 'discard') this.tx = undefined;
      else this.tx.push(cmd);
      return;
    }
    if (name === 'multi') {
      this.tx = [];
      return;
    }
    this.addOne(cmd, undefined);
  }

  /** A source transaction: kept atomic when its keys share a slot (always on a standalone target). */
  private addTransaction(cmds: StreamCommand[]): void {
    const { writer } = this.shard.context;
    if (!writer.cluster) {
      for (const c of cmds) this.addOne(c, undefined);
      return;
    }
    const slots = new Set<number>();
    for (const c of cmds) for (const k of this.keysOf(c.argv)) slots.add(keySlot(k));
    if (slots.size > 1) {
      this.shard.warn(
        `a source transaction (MULTI/EXEC) spans ${slots.size} slots of the target cluster: its commands were applied one by one, not atomically`,
        undefined,
        'MULTI',
      );
    }
    for (const c of cmds) this.addOne(c, slots.size === 1 ? [...slots][0] : undefined);
  }

  private keysOf(argv: Buffer[]): Buffer[] {
    const spec = COMMANDS.get(commandName(argv));
    return spec ? keyPositions(spec, argv).map((i) => argv[i] as Buffer) : [];
  }

  private group(db: number, slot: number | undefined): Group {
    const { writer } = this.shard.context;
    const id = writer.cluster ? (slot ?? -1) : 0;
    let g = this.groups.get(id);
    if (!g) {
      g = { db, endDb: db, slot, cmds: [], unsafe: false, lastOffset: 0 };
      this.groups.set(id, g);
      this.order.push(g);
    }
    return g;
  }

  private push(db: number, slot: number | undefined, argv: WireCommand, safe: boolean, offset: number): void {
    const { writer } = this.shard.context;
    const domain = writer.cluster ? (slot ?? 0) : 0;
    if (this.shard.alreadyApplied(domain, offset)) return;
    this.shard.noteDb(db);
    const g = this.group(db, slot);
    if (!writer.cluster && db !== g.endDb) {
      g.cmds.push(['SELECT', db]);
      g.endDb = db;
    }
    g.cmds.push(argv);
    if (!safe) g.unsafe = true;
    g.lastOffset = offset;
    this.size++;
  }

  private addOne(cmd: StreamCommand, txSlot: number | undefined): void {
    let { argv } = cmd;
    const { offset } = cmd;
    const sh = this.shard;
    const { mapper, writer, options } = sh.context;
    let name = commandName(argv);
    if (name === 'ping' || name === 'replconf') return;
    if (name === 'select') {
      sh.sourceDb = Number(argv[1]?.toString());
      return;
    }
    const srcDb = sh.sourceDb;
    // the heartbeat Ferry writes on the source comes back here, whatever the db map says
    if (options.sourceHeartbeat && name === 'set' && argv[1]?.equals(sh.heartbeatKey)) {
      if (argv[2]) sh.heartbeat(argv[2]);
      return;
    }
    if (name === 'restore-asking' || name === 'del' || name === 'unlink') {
      const m = this.migration(name, argv, srcDb);
      if (!m) return;
      if (m !== argv) {
        argv = m;
        name = commandName(argv);
      }
    }
    const route = mapper.route(srcDb);
    if (!route) return;
    // the source command's keys, looked up once for the two checks that read them (neither runs for
    // a one-shard task into a plain target: no lookup there)
    const owners = sh.tracksOwners;
    const known = owners || writer.proxy ? COMMANDS.get(name) : undefined;
    const srcKeys = known ? keyPositions(known, argv).map((i) => argv[i] as Buffer) : [];
    // a write outside this shard's slots (straight to a Codis server, say): noted before it is queued
    if (owners) for (const k of srcKeys) sh.checkOwner(k);
    if (writer.proxy) {
      const why = proxyRefuses(
        writer.proxy,
        name,
        srcKeys.map((k) => mapKey(k, route.prefix)),
        writer.maxKeyBytes,
      );
      if (why) {
        sh.unsupported(`${describeCommand(argv)} was not applied: ${why}`, srcKeys[0], name.toUpperCase());
        return;
      }
      const as = proxyName(writer.proxy, name);
      if (as !== name) {
        argv = [Buffer.from(as), ...argv.slice(1)];
        name = commandName(argv);
      }
    }
    const spec = COMMANDS.get(name);
    // the common case: keys unchanged, one target node; the command goes as it came
    if (
      spec &&
      spec.first !== 0 &&
      !writer.cluster &&
      !writer.proxy &&
      !route.prefix &&
      !mapper.filter &&
      !options.sourceHeartbeat
    ) {
      this.push(
        route.db,
        undefined,
        argv === cmd.argv ? (cmd.raw ?? argv) : argv,
        replaySafe(spec, argv),
        offset,
      );
      return;
    }
    if (!spec) {
      if (!writer.cluster && !mapper.renames && !mapper.filter) {
        this.push(route.db, undefined, argv, false, offset);
        return;
      }
      sh.warn(
        `command ${name.toUpperCase()} is not known to Ferry and was not applied`,
        argv[1],
        name.toUpperCase(),
      );
      return;
    }
    const positions = keyPositions(spec, argv);
    const out: Arg[] = argv.slice();
    const keys: Buffer[] = [];
    for (const i of positions) {
      const k = argv[i] as Buffer;
      if (options.sourceHeartbeat && k.equals(sh.heartbeatKey)) {
        if (name === 'set' && argv[2]) sh.heartbeat(argv[2]);
        return;
      }
      if (sh.own.is(k)) {
        // the snapshot skips these too: a key under the reserved prefix is Ferry's, not the user's
        sh.warn(
          `${name.toUpperCase()} on a key under the reserved prefix "${sh.own.prefix}" was not applied (the key is taken for Ferry's own): choose another prefix with --reserved-prefix`,
          k,
          name.toUpperCase(),
        );
        return;
      }
      keys.push(k);
      out[i] = mapKey(k, route.prefix);
    }
    if (mapper.filter && keys.length > 0) {
      const pass = keys.filter((k) => (mapper.filter as (k: Buffer) => boolean)(k));
      if (pass.length === 0) return;
      if (pass.length < keys.length) {
        sh.warn(
          `${name.toUpperCase()} touches keys inside and outside the filter: applied as is`,
          keys[0],
          name.toUpperCase(),
        );
      }
    }
    const safe = replaySafe(spec, argv);
    if (positions.length === 0) {
      this.keyless(name, out, route, srcDb, safe, offset);
      return;
    }
    if (!writer.cluster) {
      this.push(route.db, undefined, out, safe, offset);
      return;
    }
    const slots = positions.map((i) => keySlot(out[i] as Buffer));
    const first = slots[0] as number;
    if (slots.every((s) => s === first)) {
      this.push(0, txSlot ?? first, out, safe, offset);
      return;
    }
    // keys in several slots: commands that are a list of independent keys split cleanly
    if (name === 'del' || name === 'unlink' || name === 'mset' || name === 'pfcount') {
      const per = new Map<number, Arg[]>();
      const stride = name === 'mset' ? 2 : 1;
      for (let j = 0; j < positions.length; j++) {
        const s = slots[j] as number;
        let part = per.get(s);
        if (!part) {
          part = [out[0] as Arg];
          per.set(s, part);
        }
        const at = positions[j] as number;
        for (let x = 0; x < stride; x++) part.push(out[at + x] as Arg);
      }
      for (const [s, part] of per) this.push(0, s, part, safe, offset);
      return;
    }
    sh.warn(
      `${describeCommand(argv)} spans several slots of the target cluster and cannot be applied there (CROSSSLOT); the keys involved may differ until they are written again`,
      argv[1],
      name.toUpperCase(),
    );
  }

  /**
   * A source cluster's slot migration, as it shows in the streams: `RESTORE-ASKING` (the importing
   * shard) becomes `RESTORE … REPLACE` (the target holds the key already, from the other shard) and
   * registers the key; the exporting shard's `DEL` of it is dropped (see MovedKeys). Returns the
   * command to apply, or undefined when nothing is left of it.
   */
  private migration(name: string, argv: Buffer[], db: number): Buffer[] | undefined {
    const sh = this.shard;
    const { moved, shard } = sh.context;
    if (name === 'restore-asking') {
      const key = argv[1];
      if (key) {
        moved.restored(db, key, shard.id);
        moved.unsettledSlots.add(keySlot(key)); // its slot is moving to this shard: not a stray key
      }
      const out: Buffer[] = [Buffer.from('RESTORE'), ...argv.slice(1)];
      if (!argv.slice(4).some((a) => a.length === 7 && a.toString('latin1').toLowerCase() === 'replace'))
        out.push(Buffer.from('REPLACE'));
      return out;
    }
    let kept: Buffer[] | undefined;
    for (let i = 1; i < argv.length; i++) {
      const key = argv[i] as Buffer;
      if (moved.migratedAway(db, key, shard.id)) {
        kept ??= argv.slice(0, i);
        sh.metrics.migratedAway = (sh.metrics.migratedAway ?? 0) + 1;
      } else kept?.push(key);
    }
    if (!kept) return argv;
    return kept.length > 1 ? kept : undefined;
  }

  private keyless(
    name: string,
    argv: Arg[],
    route: DbRoute,
    srcDb: number,
    safe: boolean,
    offset: number,
  ): void {
    const sh = this.shard;
    const { writer, mapper } = sh.context;
    if (name === 'flushdb' || name === 'flushall') {
      // FLUSHDB cannot be applied where other source dbs share the target db. FLUSHALL empties every
      // source db, so sharing does not matter (into a cluster all dbs map to db 0); only a prefix map
      // can mean the target db holds keys of other sources, which it must not wipe.
      if (name === 'flushall' ? mapper.renames : mapper.sharesTargetDb(srcDb)) {
        sh.warn(
          `${name.toUpperCase()} on the source was not applied: source db ${srcDb} shares its target db with others`,
          undefined,
          name.toUpperCase(),
        );
        return;
      }
    }
    if (name === 'flushall' || (name === 'flushdb' && route.db === 0)) this.flushes = true;
    if (name === 'swapdb' || name === 'move') {
      sh.warn(
        `${name.toUpperCase()} was not applied: it moves keys between dbs, which the db map does not allow`,
        undefined,
        name.toUpperCase(),
      );
      return;
    }
    if (!writer.cluster) {
      this.push(route.db, undefined, argv, safe, offset);
      return;
    }
    if (name === 'publish') {
      this.push(0, 0, argv, true, offset);
      return;
    }
    this.order.push({ broadcast: argv, db: 0 });
    // what follows goes in new groups, sent after it: "SET a 1, FLUSHALL, SET a 2" in one batch
    // would otherwise send both SETs (one group per slot) before the FLUSHALL and lose a
    this.groups.clear();
    this.size++;
  }

  /** The batch empties the target's db 0 (where the task's lease lives). */
  private flushes = false;

  /** Sends every group (in order); resolves when the target acknowledged all of them. */
  async send(): Promise<void> {
    const flush = this.flushes ? this.shard.context.targetFlush : undefined;
    if (!flush) return this.sendGroups();
    flush.begin();
    try {
      await this.sendGroups();
    } finally {
      await flush.end();
    }
  }

  private async sendGroups(): Promise<void> {
    const sh = this.shard;
    const { writer } = sh.context;
    const sends: Array<Promise<unknown>> = [];
    for (const item of this.order) {
      if ('broadcast' in item) {
        await Promise.all(sends);
        await writer.broadcast(item.db, item.broadcast);
        continue;
      }
      const g = item;
      if (g.cmds.length === 0) continue;
      if (g.unsafe) {
        const domain = writer.cluster ? (g.slot ?? 0) : 0;
        const cmds = g.cmds;
        // the checkpoint key lives in db 0
        if (!writer.cluster && g.endDb !== 0) {
          cmds.push(['SELECT', 0]);
          g.endDb = 0;
        }
        cmds.push(sh.domainCheckpointCommand(domain, g.lastOffset));
        sends.push(writer.sendGroup(g.db, g.slot, cmds, true, {}, g.endDb));
      } else {
        sends.push(writer.sendGroup(g.db, g.slot, g.cmds, false, {}, g.endDb));
      }
    }
    await Promise.all(sends);
  }
}
