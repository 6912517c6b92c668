import { FerryError, isFerryError } from '@ferry/errors';
import type { ReaderSpec, ShardReader } from '@ferry/plugin-sdk';
import { freeBytes, type SyncStart } from '@ferry/replication';
import type { Arg } from '@ferry/resp';
import { ApplyRate } from './apply-rate.js';
import { type DowngradeTarget, downgradeTarget } from './downgrade.js';
import { dropEarlierPass } from './earlier-pass.js';
import type { Endpoint } from './endpoint.js';
import { endpointName } from './endpoint.js';
import { newShardMetrics, type ShardMetrics } from './events.js';
import { OwnKeys } from './ferry-keys.js';
import { formatBytes } from './format.js';
import type { ShardSpec } from './plugins.js';
import { ReplicationReader } from './reader.js';
import { pickSource, type ShardContext, type SnapshotJob } from './shard-context.js';
import { ShardNotices } from './shard-notices.js';
import { SlotOwners } from './slot-owners.js';
import { writeSnapshotOnThread } from './snapshot-thread.js';
import { SnapshotWriter } from './snapshot-writer.js';
import { StreamApplier, wakeUp } from './stream-apply.js';
import { TargetCheckpoints } from './target-checkpoints.js';
import { WritesInFlight } from './writes-in-flight.js';

const CHECKPOINT_EVERY_MS = 1000;
const METRICS_EVERY_MS = 1000;

/**
 * One shard's migration, pass by pass: a reader of the source (a replica link to it, or to one of
 * its replicas, by default: see reader.ts), the snapshot written to the target (SnapshotWriter, or a
 * snapshot thread), then the command stream applied in source order (StreamApplier), each applied
 * offset checkpointed only once the target acknowledged it (the task's store, and TargetCheckpoints
 * for what is not replay-safe). The runner orchestrates the passes and keeps the shard's state.
 */
export class ShardRunner {
  readonly metrics: ShardMetrics;
  private reader: ShardReader | undefined;
  private replid = '';
  private applied = 0;
  /** Whether keys may go as RESTORE (false once the target refused one: the rewrite path). */
  private restoreAllowed: boolean;
  readonly notices: ShardNotices;
  readonly owners: SlotOwners;
  private failure: Error | undefined;
  /** This shard's checkpoints on the target (per slot of a cluster target, else one). */
  private readonly checkpoints: TargetCheckpoints;
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
  /** What the target has of newer stream commands (see downgrade.ts). */
  readonly downgrade: DowngradeTarget;
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
    this.downgrade = downgradeTarget(ctx.writer);
    this.source = pickSource(s);
    this.metrics = newShardMetrics(s.id);
    this.notices = new ShardNotices(ctx.emit, ctx.taskId, s.id, this.metrics);
    this.checkpoints = new TargetCheckpoints(ctx.writer, this.own, ctx.taskId, s.id);
    this.owners = new SlotOwners(s, ctx.shardCount, ctx.moved, this.notices, () => this.name);
    // codis-proxy refuses RESTORE: the rewrite path, whatever the write mode says
    this.restoreAllowed = ctx.options.writeMode !== 'rewrite' && ctx.writer.proxy !== 'codis';
  }

  get name(): string {
    const file = this.ctx.shard.file;
    return `${this.ctx.shard.id} (${file ? file.path : endpointName(this.source)})`;
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
    this.reader?.close();
    return true;
  }

  /** Stops streaming once everything the source has sent so far is applied. */
  requestComplete(): void {
    this.completeRequested = true;
    this.wakeApplier();
  }

  /**
   * The target lost what this shard wrote: the pass ends now, and the next one writes the snapshot
   * again (a full sync, as a retry after a refused resume does) instead of resuming.
   */
  resnapshot(reason: string): void {
    this.resnapshotNext = true;
    this.fail(new FerryError('RESYNC_REQUIRED', reason));
    this.reader?.close();
  }
  private resnapshotNext = false;

  /** Stops streaming at the next command, with everything sent acknowledged and checkpointed. */
  requestStop(): void {
    this.stopRequested = true;
    this.wakeApplier();
  }

  /** Resolved once at the next stop or completion request: the applier looks at once, not at its next idle poll. */
  private wake = wakeUp();
  private wakeApplier(): void {
    this.wake.resolve();
    this.wake = wakeUp();
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
    this.checkpoints.reset();
    this.metrics.phase = 'connecting';
    const saved = ctx.loadCheckpoint();
    if (saved && !saved.dbs) this.wroteKnown = false;
    for (const db of saved?.dbs ?? []) this.wrote.add(db);
    // the target lost this shard's keys: no resume, the snapshot is written again
    const again = this.resnapshotNext;
    this.resnapshotNext = false;
    const reader = (ctx.openReader ?? ((spec: ReaderSpec) => new ReplicationReader(spec)))({
      shard: ctx.shard,
      source: this.source,
      spoolDir: ctx.spoolDir,
      signal: ctx.signal,
      ...(saved?.snapshotDone && saved.replid && !again
        ? { resume: { replid: saved.replid, offset: saved.offset } }
        : {}),
      heartbeat: ctx.options.sourceHeartbeat,
      onWaiting: () => {
        this.metrics.phase = 'waiting-bgsave';
      },
    });
    this.reader = reader;
    const timer = setInterval(() => void this.tick(), METRICS_EVERY_MS);
    timer.unref();
    const onAbort = (): void => reader.close();
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    try {
      const start = await reader.start();
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
        await this.checkpoints.load(this.replid, this.resumedFrom);
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
      await new StreamApplier(
        {
          ctx,
          metrics: this.metrics,
          batchHost: this,
          currentPass: () => this.pass,
          failed: () => this.failure,
          fail: (err) => this.fail(err),
          track: (p) => this.ownWork(p),
          stopRequested: () => this.stopRequested,
          completeRequested: () => this.completeRequested,
          requested: () => this.wake.promise,
          appliedOffset: () => this.applied,
          applied: (offset, db) => {
            this.applied = offset;
            this.appliedDb = db;
            // caught up with the source's last offset: measured again now, not a second later
            const m = this.metrics;
            if (m.lagBytes > 0 && offset >= m.sourceOffset && Date.now() - this.lastRemeasure >= 100) {
              this.lastRemeasure = Date.now();
              void this.tick();
            }
          },
          saveCheckpoint: () => this.saveCheckpoint(true),
        },
        this.pass,
      ).run(reader);
      if (this.failure) throw this.failure;
      // a file's last byte, read now: the check before done compares the position applied with it
      if (ctx.shard.file)
        this.metrics.sourceOffset = (await reader.sourceOffset()) ?? this.metrics.sourceOffset;
    } finally {
      clearInterval(timer);
      ctx.signal.removeEventListener('abort', onAbort);
      reader.cleanup();
    }
  }

  /**
   * Disk is a resource like memory: before a snapshot is spooled, the folder's free space against
   * its size (announced by a disk-based sync, else the source's dataset memory, as the precheck
   * estimates it). Short: refused now with what is needed, not cut by ENOSPC half-way.
   */
  private async checkSpoolSpace(start: Extract<SyncStart, { mode: 'full' | 'sync' }>): Promise<void> {
    if (this.reader?.inPlace) return;
    let need = start.snapshotBytes;
    if (need === undefined) {
      need = (await this.reader?.snapshotSizeEstimate().catch(() => 0)) ?? 0;
    }
    const free = freeBytes(this.ctx.spoolDir);
    if (free === 0 || free >= need) return;
    throw new FerryError(
      'DISK_FULL',
      `the spool folder ${this.ctx.spoolDir} has ${formatBytes(free)} free and the snapshot of ${this.name} needs about ${formatBytes(need)}${start.snapshotBytes === undefined ? " (the source's dataset memory)" : ''}: free space there, or put the state folder on a bigger disk (--state-dir)`,
      { details: { dir: this.ctx.spoolDir, free, need } },
    );
  }

  /** Refreshes lag and progress, persists the checkpoint, emits the metrics event. */
  private async tick(): Promise<void> {
    const m = this.metrics;
    let sourceRead: number | undefined;
    try {
      const r = this.reader;
      if (r?.heartbeat && this.ctx.options.sourceHeartbeat && m.phase === 'streaming')
        await r.heartbeat(this.heartbeatKey, Date.now());
      const asked = Date.now();
      const off = await r?.sourceOffset();
      if (off !== undefined) {
        m.sourceOffset = off;
        sourceRead = asked;
      }
    } catch {
      // the next tick tries again; the link itself reports a dead source
    }
    m.receivedOffset = this.reader?.offset ?? 0;
    m.appliedOffset = this.applied;
    if (m.phase === 'streaming') {
      m.lagBytes = Math.max(0, Math.max(m.sourceOffset, m.receivedOffset) - this.applied);
      if (sourceRead) m.lagMeasuredAt = sourceRead;
      if (!this.ctx.options.sourceHeartbeat) m.lagMs = this.rate.lagMs(this.applied, m.lagBytes);
      this.ctx.emit('stream:lag', { taskId: this.ctx.taskId, ...m });
      if (Date.now() - this.lastSaved >= CHECKPOINT_EVERY_MS)
        await this.saveCheckpoint(true).catch(() => undefined);
    } else if (m.phase === 'snapshot') {
      this.ctx.emit('rdb:progress', { taskId: this.ctx.taskId, ...m });
    }
  }

  private readonly rate = new ApplyRate();
  /** When the lag was last measured again because the stream caught up (at most every 100 ms). */
  private lastRemeasure = 0;

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
    if (rewriting)
      await dropEarlierPass({
        ctx,
        name: this.name,
        notices: this.notices,
        owners: this.owners,
        own: this.own,
        written: this.writtenDbs,
      });
    await this.checkpoints.clear();
    // from here on the target holds keys of this task: a later pass must replace them
    this.applied = start.offset;
    await this.saveCheckpoint(false);
    // a task writing its snapshot again (a retry, a refused resume) replaces what it wrote before
    const replace = options.conflict === 'replace' || rewriting;
    const reader = this.reader as ShardReader;
    const job: SnapshotJob = {
      replace,
      ...(start.snapshotBytes !== undefined ? { snapshotBytes: start.snapshotBytes } : {}),
      ...(reader.snapshotPath ? { path: reader.snapshotPath } : {}),
    };
    if (ctx.snapshotWorker && job.path) {
      this.metrics.snapshotThread = true;
      this.restoreAllowed = await writeSnapshotOnThread(
        {
          ctx,
          metrics: this.metrics,
          name: this.name,
          restoreAllowed: this.restoreAllowed,
          noteDb: (db) => this.noteDb(db),
          track: (p) => void this.ownWork(p),
          failed: () => this.failure,
        },
        reader,
        job,
      );
    } else {
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
        await w.write(reader.snapshot(signal), job);
      } finally {
        this.restoreAllowed = w.restoreAllowed;
      }
    }
  }

  private async estimateKeys(): Promise<void> {
    try {
      const counts = await this.reader?.keyCounts();
      if (!counts) {
        this.metrics.keysTotal = undefined;
        return;
      }
      let total = 0;
      for (const [db, n] of counts) {
        total += n;
        // the snapshot will write there: recorded before it does (a crash mid-way keeps it known)
        const route = this.ctx.mapper.route(db);
        if (route) this.noteDb(this.ctx.writer.cluster ? 0 : route.db);
      }
      this.metrics.keysTotal = total;
    } catch {
      this.metrics.keysTotal = undefined;
    }
  }

  // ---------------------------------------------------------------- stream

  /** Removes this shard's checkpoint keys from the target (when the task completes). */
  async cleanupTarget(): Promise<void> {
    await this.checkpoints.clear();
  }

  /** Passes run so far (a retry is a new pass), and the writes of the current one still in flight. */
  private pass = 0;
  private readonly passWork = new WritesInFlight();

  /** Lets the writes of the passes so far settle (see WritesInFlight). */
  settleWrites(ms = 30_000): Promise<void> {
    return this.passWork.settle(ms);
  }

  private ownWork(p: Promise<void>): Promise<void> {
    return this.passWork.add(p);
  }

  /** @internal */
  get context(): ShardContext {
    return this.ctx;
  }
  /** @internal */
  alreadyApplied(domain: number, offset: number): boolean {
    return this.checkpoints.applied(domain, offset);
  }
  /** @internal */
  domainCheckpointCommand(domain: number, offset: number): Arg[] {
    return this.checkpoints.command(domain, this.replid, offset);
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
