import { Worker } from 'node:worker_threads';
import { FerryError, type FerryErrorCode, isFerryError } from '@ferry/errors';
import { freeBytes, ReplicaLink, type SyncStart } from '@ferry/replication';
import type { Arg, RespConnection } from '@ferry/resp';
import { connectEndpoint, type Endpoint, endpointName } from './endpoint.js';
import { newShardMetrics, type ShardMetrics, type TaskEvents } from './events.js';
import { OwnKeys } from './ferry-keys.js';
import { formatBytes } from './format.js';
import type { KeyMapper } from './keys.js';
import type { ShardSpec } from './plugins.js';
import { pickSource, type ShardContext, type SnapshotJob, type SnapshotWorkerSpec } from './shard-context.js';
import { ShardNotices } from './shard-notices.js';
import { keySlot, slotTag } from './slot.js';
import { SlotOwners } from './slot-owners.js';
import type { SnapshotWorkerData, WorkerMessage } from './snapshot-worker.js';
import { SnapshotWriter } from './snapshot-writer.js';
import { StreamBatch } from './stream-batch.js';
import { WritesInFlight } from './writes-in-flight.js';

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
const CHECKPOINT_EVERY_MS = 1000;
const METRICS_EVERY_MS = 1000;

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
  /** Whether keys may go as RESTORE (false once the target refused one: the rewrite path). */
  private restoreAllowed: boolean;
  readonly notices: ShardNotices;
  readonly owners: SlotOwners;
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
    this.metrics = newShardMetrics(s.id);
    this.notices = new ShardNotices(ctx.emit, ctx.taskId, s.id, this.metrics);
    this.owners = new SlotOwners(s, ctx.shardCount, ctx.moved, this.notices, () => this.name);
    // codis-proxy refuses RESTORE: the rewrite path, whatever the write mode says
    this.restoreAllowed = ctx.options.writeMode !== 'rewrite' && ctx.writer.proxy !== 'codis';
  }

  get name(): string {
    return `${this.ctx.shard.id} (${endpointName(this.source)})`;
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
    this.owners.reset(); // the slots may have changed
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
        this.notices.warn(
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
    else {
      const w = new SnapshotWriter(
        {
          ctx,
          metrics: this.metrics,
          own: this.own,
          notices: this.notices,
          owners: this.owners,
          noteDb: (db) => this.noteDb(db),
          track: (p) => void this.ownWork(p),
          failed: () => this.failure,
        },
        this.restoreAllowed,
      );
      try {
        await w.write(link.snapshot(signal), job);
      } finally {
        this.restoreAllowed = w.restoreAllowed;
      }
    }
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
      this.notices.warn(
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
    const own = this.owners.mask();
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
  private readonly passWork = new WritesInFlight();

  /** Lets the writes of the passes so far settle (see WritesInFlight). */
  settleWrites(ms = 30_000): Promise<void> {
    return this.passWork.settle(ms);
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
    return this.passWork.add(p);
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
    this.notices.warn(message, key, command);
  }
  /** @internal a command the target cannot take (see ShardNotices.unsupported) */
  unsupported(message: string, key: Buffer | undefined, command: string): void {
    this.notices.unsupported(message, key, command);
  }
  /** @internal */
  get tracksOwners(): boolean {
    return this.owners.tracking;
  }
  /** @internal */
  checkOwner(key: Buffer): void {
    this.owners.check(key);
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
