import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { mkdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { FerryError, isFerryError } from '@ferry/errors';
import type { TaskCheckpoint } from './checkpoint.js';
import type { CheckReport, RunChecksOptions } from './checks/runChecks.js';
import { checkDone, type DoneCheckResult, notInSync } from './done-check.js';
import { onSide } from './endpoint.js';
import { type ShardMetrics, TaskEmitter } from './events.js';
import { OwnKeys } from './ferry-keys.js';
import { checkAofDone, checkFileDone } from './file-done-check.js';
import { assertSameIdentity, type TaskIdentity, taskIdentity } from './identity.js';
import { KeyMapper, targetDbs } from './keys.js';
import { newOwner, TaskLease } from './lease.js';
import { RateLimiter } from './limiter.js';
import { MovedKeys } from './moved.js';
import { type RateLimit, type ResolvedOptions, resolveOptions } from './options.js';
import type { Logger, PluginContext, PluginRegistry, ShardSpec } from './plugins.js';
import type { ReaderSpec, ShardReader } from './reader-contract.js';
import { ShardRunner } from './shard.js';
import type { WorkerTarget } from './shard-context.js';
import { assertAllowed, canTransition, type TaskAction, type TaskState } from './state.js';
import { TargetWriter } from './target/writer.js';
import { checkEmptyTarget, checkTargetDbs, refuseMultiDb } from './target-checks.js';
import { precheck } from './task-check.js';
import { LeaseKeeper } from './task-lease.js';
import type { EngineServices, TaskSpec } from './task-spec.js';
import { type VerifyTaskOptions, verifyTask } from './task-verify.js';
import { followTopology } from './task-watch.js';
import type { VerificationReport } from './verification.js';

export type { EngineServices, TaskSpec } from './task-spec.js';

function retryable(err: unknown): boolean {
  return (
    isFerryError(err) &&
    (err.code === 'CONNECTION_CLOSED' ||
      err.code === 'CONNECTION_FAILED' ||
      err.code === 'TIMEOUT' ||
      err.code === 'SOURCE_NOT_READY' ||
      err.code === 'RESYNC_REQUIRED')
  );
}

const silent: Logger = { debug() {}, info() {}, warn() {} };

/** One migration: its state machine, its shards, its events and metrics. */
export class Task {
  readonly id: string;
  readonly events = new TaskEmitter();
  state: TaskState = 'created';
  readonly options: ResolvedOptions;
  private controller = new AbortController();
  private readonly limiter: RateLimiter;
  private runners: ShardRunner[] = [];
  private shards: ShardSpec[] = [];
  private checkpoint: TaskCheckpoint = {};
  private writer: TargetWriter | undefined;
  private pausedGate: { promise: Promise<void>; release: () => void } | undefined;
  private completing = false;
  private forced = false;
  /** What the check before "done" measured (set as the task completes). */
  doneCheck: DoneCheckResult | undefined;
  private stopping = false;
  private running: Promise<void> | undefined;
  /** The next start drops the stored checkpoint (start over explicitly). */
  private fresh = false;
  /** What decides what ends up on the target (recorded in every checkpoint). */
  readonly identity: TaskIdentity;
  /** The error that failed the task. */
  error: FerryError | undefined;
  /** The last precheck's report. */
  checkReport: CheckReport | undefined;

  constructor(
    readonly spec: TaskSpec,
    private readonly registry: PluginRegistry,
    private readonly services: EngineServices,
  ) {
    this.id = spec.id ?? randomUUID();
    if (!/^[A-Za-z0-9._-]{1,100}$/.test(this.id))
      throw new FerryError(
        'CONFIG_INVALID',
        `task id ${JSON.stringify(this.id)}: use letters, digits, ".", "_" and "-" (at most 100)`,
      );
    this.options = resolveOptions(spec.options);
    const proxy = spec.target.proxy;
    if (proxy !== undefined && proxy !== 'twemproxy' && proxy !== 'codis')
      throw new FerryError(
        'CONFIG_INVALID',
        `target proxy must be twemproxy or codis; got ${JSON.stringify(proxy)}`,
      );
    if (proxy && spec.target.cluster)
      throw new FerryError('CONFIG_INVALID', 'the target is either a cluster or a proxy, not both');
    if (proxy === 'codis' && this.options.writeMode === 'restore')
      throw new FerryError(
        'CONFIG_INVALID',
        'codis-proxy refuses RESTORE: use --write-mode auto or rewrite with a codis target',
      );
    this.limiter = new RateLimiter(this.options.rateLimit);
    this.identity = taskIdentity(spec, this.options);
    registry.topology(spec.source.topology); // unknown topology: refused now, not at start
  }

  private setState(to: TaskState, reason?: string): void {
    const from = this.state;
    if (from === to) return;
    if (!canTransition(from, to))
      throw new FerryError('CONFIG_INVALID', `task ${this.id} cannot go from ${from} to ${to}`);
    this.state = to;
    this.events.emit('task:state', { taskId: this.id, from, to, ...(reason ? { reason } : {}) });
  }

  private context(): PluginContext {
    return {
      taskId: this.id,
      signal: this.controller.signal,
      log: this.services.log ?? silent,
      emit: (event, payload) => this.events.emit(event, payload),
    };
  }

  /** Metrics of every shard. */
  metrics(): ShardMetrics[] {
    return this.runners.map((r) => ({ ...r.metrics, errors: { ...r.metrics.errors } }));
  }

  /** Largest lag over the shards, in bytes (0: everything the sources sent is applied). */
  lagBytes(): number {
    return Math.max(0, ...this.runners.map((r) => r.metrics.lagBytes));
  }

  /** Changes the rate limit while running. */
  setRateLimit(limit: RateLimit): void {
    this.limiter.set(limit);
  }

  /**
   * Starts the task and resolves once it ends: succeeded (completed), stopped, or failed (rejects
   * with the error). Resumes from the stored checkpoint when there is one.
   */
  start(o: { fresh?: boolean } = {}): Promise<void> {
    assertAllowed(this.state, this.state === 'stopped' || this.state === 'failed' ? 'retry' : 'start');
    this.fresh = Boolean(o.fresh);
    this.controller = new AbortController();
    // every shard's link, connections and snapshot listen to it (each removes its own listener)
    setMaxListeners(0, this.controller.signal);
    this.stopping = false;
    this.completing = false;
    this.forced = false;
    this.doneCheck = undefined;
    this.error = undefined;
    this.running = this.run();
    return this.running;
  }

  private async run(): Promise<void> {
    this.setState('preparing');
    let stopLease = (): void => undefined;
    let succeeded = false;
    try {
      await this.prepare();
      stopLease = this.lease?.keep() ?? stopLease;
      this.setState(this.runnersAllResumed() ? 'incremental_sync' : 'full_sync');
      const watching = this.watchTopology();
      await Promise.all(this.runners.map((r) => this.runShard(r)));
      this.watchStop?.abort();
      await watching;
      if (this.stopping) {
        this.setState('stopping');
        this.setState('stopped');
        return;
      }
      this.setState('completing');
      for (const r of this.runners) await r.cleanupTarget();
      stopLease();
      await this.lease?.finish();
      const check = await this.checkDone();
      this.doneCheck = check;
      this.events.emit('task:checked', { taskId: this.id, forced: this.forced, ...check });
      if (!check.ok && !this.forced)
        throw notInSync(this.id, check, { file: this.shards.some((s) => s.file) });
      await this.services.checkpoints.clear(this.id);
      succeeded = true;
      this.setState('succeeded', check.summary);
    } catch (err) {
      if (this.stopping || (isFerryError(err, 'ABORTED') && this.stopping)) {
        if (this.state !== 'stopping') this.setState('stopping');
        this.setState('stopped');
        return;
      }
      const e = this.lease?.lostTo
        ? this.lease.lostTo
        : isFerryError(err)
          ? err
          : new FerryError('TARGET_WRITE_FAILED', String((err as Error)?.message ?? err), { cause: err });
      this.error = e;
      this.events.emit('task:error', { taskId: this.id, code: e.code, message: e.message, retrying: false });
      // (a completion the check refused fails too, and says so: the service stores the state)
      this.setState('failed', e.message);
      throw e;
    } finally {
      stopLease();
      // a stopped or failed task gives its lease back (the epoch stays: the next owner's is higher)
      if (!succeeded && this.writer && this.lease && !this.lease.lostTo) await this.lease.release();
      this.controller.abort();
      await this.writer?.close();
      this.writer = undefined;
    }
  }

  /**
   * Runs every registered check against the task's source and target (reads only) and moves the
   * task to check_passed (no fail; warnings are for the user to acknowledge) or check_failed.
   * A source that cannot be discovered (unreachable, wrong password, bad node list) is itself a
   * failed check, so the report always says what is wrong.
   */
  async check(options: RunChecksOptions = {}): Promise<CheckReport> {
    this.act('check');
    this.controller = new AbortController();
    this.setState('checking');
    const ctx = this.context();
    let report: CheckReport;
    try {
      report = await precheck(
        {
          taskId: this.id,
          spec: this.spec,
          options: this.options,
          registry: this.registry,
          spoolDir: join(this.services.spoolDir, this.id),
          ctx,
        },
        options,
      );
    } catch (err) {
      this.setState('check_failed', (err as Error).message);
      throw err;
    } finally {
      this.controller.abort();
    }
    this.checkReport = report;
    this.setState(report.status === 'fail' ? 'check_failed' : 'check_passed');
    return report;
  }

  private watchStop: AbortController | undefined;
  private mapper: KeyMapper | undefined;
  /** The task's lease on the target (none through a proxy). */
  private lease: LeaseKeeper | undefined;
  private targetLoss: Promise<void> | undefined;
  private targetOwned = false;
  private readonly moved = new MovedKeys();

  /**
   * Follows the source topology while the shards run (plugins that have a watcher): a failover
   * moves the shard's link to the new primary, slots moving are reported (or pause the task when the
   * plugin says so), added or removed shards are reported. A watcher that fails is an event, never
   * the task's failure.
   */
  private async watchTopology(): Promise<void> {
    const plugin = this.registry.topology(this.spec.source.topology);
    if (!plugin.watch) return;
    const stop = new AbortController();
    this.watchStop = stop;
    const signal = AbortSignal.any([stop.signal, this.controller.signal]);
    const ctx = { ...this.context(), signal };
    await followTopology(
      {
        taskId: this.id,
        runners: this.runners,
        moved: this.moved,
        emit: (event, payload) => this.events.emit(event, payload),
        pauseIfRunning: () => {
          if (this.state !== 'full_sync' && this.state !== 'incremental_sync') return false;
          this.pause();
          return true;
        },
      },
      plugin.watch(plugin.parseOptions(this.spec.source.options), ctx),
      signal,
    );
  }

  private runnersAllResumed(): boolean {
    return this.shards.length > 0 && this.shards.every((s) => this.checkpoint[s.id]?.snapshotDone);
  }

  private async prepare(): Promise<void> {
    this.lease = undefined; // a new run takes its own
    const plugin = this.registry.topology(this.spec.source.topology);
    const ctx = this.context();
    const opts = plugin.parseOptions(this.spec.source.options);
    this.shards = await plugin.discover(opts, ctx).catch((err: unknown) => {
      throw onSide('source', err);
    });
    if (this.shards.length === 0)
      throw new FerryError('CONFIG_INVALID', 'the source topology found no shard to migrate');
    if (this.fresh) {
      await this.services.checkpoints.clear(this.id);
      this.fresh = false;
    }
    this.checkpoint = (await this.services.checkpoints.load(this.id)) ?? {};
    for (const c of Object.values(this.checkpoint)) assertSameIdentity(this.id, c.identity, this.identity);
    for (const shard of this.shards) {
      // a shard renamed since the checkpoint (a cluster shard after a failover) keeps its old name
      if (this.checkpoint[shard.id]) continue;
      const old = shard.aliases?.find((a) => this.checkpoint[a]);
      if (old) shard.id = old;
    }
    if ((this.spec.target.cluster || this.spec.target.proxy) && !this.options.dbMap)
      await refuseMultiDb(this.shards, this.spec.target.proxy, this.controller.signal);
    const t = this.spec.target;
    const target: WorkerTarget = {
      endpoint: t.endpoint,
      cluster: Boolean(t.cluster),
      ...(t.proxy ? { proxy: t.proxy } : {}),
      ...(t.version ? { version: t.version } : {}),
      ...(t.maxKeyBytes ? { maxKeyBytes: t.maxKeyBytes } : {}),
      maxInFlight: this.options.maxInFlight,
    };
    this.writer = await TargetWriter.open({
      ...target,
      signal: this.controller.signal,
      onNotice: (m) => this.services.log?.debug(m),
      onTargetLost: (node) => void this.targetLost(node).catch(() => undefined),
    }).catch((err: unknown) => {
      throw onSide('target', err);
    });
    const mapper = new KeyMapper(
      this.options.dbMap,
      this.options.renamePrefix,
      this.options.filter,
      Boolean(t.cluster || t.proxy),
    );
    if (!t.cluster && !t.proxy) await checkTargetDbs(this.writer, mapper, t.endpoint);
    if (!t.proxy) {
      // one writer per task: taken before anything is written, proved by every connection after
      this.lease = new LeaseKeeper(
        new TaskLease(this.id, newOwner(), this.services.leaseTtlMs, this.options.reservedPrefix),
        this.writer,
        this.id,
        {
          lost: (err) => this.controller.abort(err),
          gone: (node) => this.onTargetLost(node),
          // the snapshot threads' connections prove it too
          fenced: (fence) => {
            target.fence = fence;
          },
        },
      );
      await this.lease.acquire();
    }
    if (t.proxy) {
      this.events.emit('task:warning', {
        taskId: this.id,
        message: `the target is a ${t.proxy} proxy: no MULTI, so a source transaction is applied command by command, and after a crash up to one batch of non-idempotent commands (INCR, LPUSH…) may be applied twice${this.options.conflict === 'fail' ? '; the proxy cannot count keys, so an existing key is found only when it is written (conflict policy "fail")' : ''}`,
      });
    }
    // whether everything in the target's mapped dbs is this task's, decided when it first starts
    const saved = Object.values(this.checkpoint);
    const targetOwned =
      !t.proxy &&
      (saved.length === 0
        ? await checkEmptyTarget(this.writer, mapper, this.options, t.endpoint)
        : saved.some((c) => c.targetWasEmpty));
    this.mapper = mapper;
    this.targetOwned = targetOwned;
    const threads =
      this.options.snapshotThreads === 'always' ||
      (this.options.snapshotThreads === 'auto' && this.shards.length > 1 && availableParallelism() > 2);
    const sourceOpts = plugin.openReader ? opts : undefined;
    this.runners = this.shards.map((shard) => {
      const spoolDir = join(this.services.spoolDir, this.id, shard.id.replace(/[^A-Za-z0-9._-]/g, '_'));
      mkdirSync(spoolDir, { recursive: true });
      return new ShardRunner({
        taskId: this.id,
        shard,
        writer: this.writer as TargetWriter,
        mapper,
        options: this.options,
        limiter: this.limiter,
        spoolDir,
        signal: this.controller.signal,
        loadCheckpoint: () => this.checkpoint[shard.id],
        saveCheckpoint: async (c) => {
          this.checkpoint[shard.id] = c;
          await this.services.checkpoints.save(this.id, this.checkpoint);
        },
        emit: (event, payload) => this.events.emit(event, payload),
        onStreaming: () => {
          if (this.state === 'full_sync' && this.runners.every((r) => r.metrics.phase === 'streaming'))
            this.setState('incremental_sync');
        },
        gate: () => this.pausedGate?.promise,
        moved: this.moved,
        ...(plugin.openReader
          ? { openReader: (spec: ReaderSpec) => plugin.openReader?.(shard, spec, sourceOpts) as ShardReader }
          : {}),
        targetOwned,
        shardCount: this.shards.length,
        identity: this.identity,
        targetFlush: {
          begin: () => {
            if (this.lease) this.lease.flushing++;
          },
          end: async () => {
            const lease = this.lease;
            if (!lease) return;
            await lease.acquire().finally(() => {
              lease.flushing--;
            });
          },
        },
        ...(threads
          ? {
              snapshotWorker: {
                target,
                forceDb0: Boolean(t.cluster || t.proxy),
                // each snapshot thread takes an equal share of the task's limit
                rate: () => {
                  const { keysPerSec = 0, bytesPerSec = 0 } = this.limiter.current;
                  const n = this.shards.length;
                  return { keysPerSec: keysPerSec / n, bytesPerSec: bytesPerSec / n };
                },
              },
            }
          : {}),
      });
    });
  }

  /**
   * Before "done": the target against the source, now (key counts per mapped db, a sample of
   * values; see done-check.ts). A proxy target cannot count its keys: said, not claimed.
   */
  private async checkDone(): Promise<DoneCheckResult> {
    const w = this.writer as TargetWriter;
    const mapper = this.mapper as KeyMapper;
    if (w.proxy)
      return {
        ok: true,
        exact: false,
        sourceKeys: undefined,
        targetKeys: undefined,
        expired: 0,
        perDb: [],
        sampled: 0,
        sampleDifferences: 0,
        summary: `not compared: a ${w.proxy} target cannot count its keys (run ferry verify against its servers)`,
      };
    const files = this.shards.flatMap((s) => (s.file ? [s.file] : []));
    if (files.some((f) => f.format === 'aof'))
      return checkAofDone({
        shards: this.runners.map((r) => ({
          name: r.name,
          appliedOffset: r.metrics.appliedOffset,
          sourceOffset: r.metrics.sourceOffset,
        })),
        writer: w,
        targetDbs: targetDbs(mapper, w.cluster),
      });
    if (files.length > 0)
      return checkFileDone({
        files: files.map((f) => f.path),
        writer: w,
        mapper,
        targetDbs: targetDbs(mapper, w.cluster),
        ...(this.runners.every((r) => r.writtenDbs)
          ? { wroteDbs: new Set(this.runners.flatMap((r) => [...(r.writtenDbs ?? [])])) }
          : {}),
        targetOwned: this.targetOwned,
        reservedPrefix: this.options.reservedPrefix,
        ...(this.services.verifier ? { verifier: this.services.verifier } : {}),
        signal: this.controller.signal,
      });
    const own = this.options.sourceHeartbeat
      ? [new OwnKeys(this.options.reservedPrefix).heartbeat(this.id)]
      : [];
    return checkDone({
      shards: this.runners.map((r) => ({
        name: r.metrics.shardId,
        endpoint: r.sourceEndpoint,
        appliedOffset: r.metrics.appliedOffset,
      })),
      writer: w,
      mapper,
      targetDbs: targetDbs(mapper, w.cluster),
      ...(this.runners.every((r) => r.writtenDbs)
        ? { wroteDbs: new Set(this.runners.flatMap((r) => [...(r.writtenDbs ?? [])])) }
        : {}),
      targetOwned: this.targetOwned,
      reservedPrefix: this.options.reservedPrefix,
      sourceOwnKeys: (db) => (db === 0 ? own : []),
      ...(this.services.verifier ? { verifier: this.services.verifier } : {}),
      sourceCluster: this.spec.source.topology === 'cluster',
      signal: this.controller.signal,
    });
  }

  /** The task's keys are gone from the target: the lease (if any) tells a loss from a takeover. */
  private targetLost(node: string): Promise<void> {
    return this.lease ? this.lease.noticeGone(node) : this.onTargetLost(node);
  }

  /**
   * The target lost the task's keys (restarted empty, flushed, failed over to an empty replica):
   * nothing it was sent can be trusted, so the lease is taken again and every shard writes its
   * snapshot again, as a retry does. Once, however many shards or writers noticed.
   */
  private onTargetLost(node: string): Promise<void> {
    this.targetLoss ??= (async () => {
      const why = `the target ${node} lost this task's keys (restarted without its data, flushed by another client, or failed over to an empty replica)`;
      this.events.emit('task:warning', {
        taskId: this.id,
        message: `${why}: every shard writes its snapshot again`,
      });
      for (const r of this.runners) r.resnapshot(`${why}; writing the snapshot again`);
      await this.lease?.acquire(); // if the target is still away, the next renewal finds it gone again
    })().finally(() => {
      this.targetLoss = undefined;
    });
    return this.targetLoss;
  }

  private async runShard(r: ShardRunner): Promise<void> {
    let failures = 0;
    let everStarted = false;
    for (;;) {
      try {
        await r.run(() => {
          everStarted = true;
          failures = 0;
        });
        this.events.emit('shard:end', { taskId: this.id, shardId: r.metrics.shardId });
        return;
      } catch (err) {
        if (this.stopping) return;
        if (this.controller.signal.aborted && !this.stopping) throw err;
        failures++;
        if (isFerryError(err, 'RESYNC_REQUIRED') && err.details?.targetLost)
          await this.targetLost(String(err.details.node ?? '')).catch(() => undefined);
        const again = everStarted && retryable(err) && failures <= 30;
        const e = err as Error;
        this.events.emit('task:error', {
          taskId: this.id,
          shardId: r.metrics.shardId,
          code: isFerryError(err) ? err.code : 'ERROR',
          message: e.message,
          retrying: again,
        });
        if (!again) {
          this.events.emit('shard:end', { taskId: this.id, shardId: r.metrics.shardId, error: e.message });
          // the other shards stop too: a task fails as a whole
          this.controller.abort(err);
          throw err;
        }
        const delay = Math.min(500 * 2 ** Math.min(failures - 1, 6), 30_000);
        await sleep(delay, undefined, { signal: this.controller.signal }).catch(() => undefined);
        if (this.stopping) return;
      }
    }
  }

  private act(action: TaskAction): void {
    assertAllowed(this.state, action);
  }

  /** Holds applying (the links keep spooling what the sources send, so nothing is lost). */
  pause(): void {
    this.act('pause');
    let release!: () => void;
    const promise = new Promise<void>((r) => (release = r));
    this.pausedGate = { promise, release };
    this.setState('paused');
  }

  resume(): void {
    this.act('resume');
    const gate = this.pausedGate;
    this.pausedGate = undefined;
    this.setState(
      this.runners.every((r) => r.metrics.phase === 'streaming') ? 'incremental_sync' : 'full_sync',
    );
    gate?.release();
  }

  /** Stops cleanly: the checkpoint stays, `start()` again resumes. */
  async stop(): Promise<void> {
    this.act('stop');
    this.stopping = true;
    const gate = this.pausedGate;
    this.pausedGate = undefined;
    gate?.release();
    for (const r of this.runners) r.requestStop();
    // streaming shards stop at their next command with their checkpoint saved; a snapshot is cut
    const streaming = this.runners.length > 0 && this.runners.every((r) => r.metrics.phase === 'streaming');
    const cut = setTimeout(
      () => this.controller.abort(new FerryError('ABORTED', `task ${this.id} stopped`)),
      streaming ? 10_000 : 0,
    );
    await this.running?.catch(() => undefined);
    clearTimeout(cut);
  }

  /**
   * Ends incremental sync once everything the sources sent is applied. Refused while the lag is
   * above zero unless forced.
   */
  async complete(options: { force?: boolean } = {}): Promise<void> {
    this.act('complete');
    if (!options.force && this.lagBytes() > 0) {
      throw new FerryError(
        'CONFIG_INVALID',
        `task ${this.id} is ${this.lagBytes()} bytes behind its source: complete once the lag is 0, or force it`,
      );
    }
    this.completing = true;
    this.forced = Boolean(options.force);
    for (const r of this.runners) r.requestComplete();
    await this.running;
  }

  /**
   * Compares the source with the target under the task's mapping (db map, rename prefix, filter),
   * while the task streams or after it ended: multi-round, so keys in flight drop out. Progress and
   * the result are task events (`verify:progress`, `verify:done`).
   */
  async verify(o: VerifyTaskOptions = {}): Promise<VerificationReport> {
    return verifyTask(
      {
        spec: this.spec,
        options: this.options,
        shards: this.shards.length > 0 ? this.shards : () => this.discover(),
        ...(this.services.verifier ? { verifier: this.services.verifier } : {}),
        onProgress: (p) => this.events.emit('verify:progress', { taskId: this.id, ...p }),
        onDone: (report) =>
          this.events.emit('verify:done', {
            taskId: this.id,
            differences: report.differences,
            counts: report.counts,
            keysChecked: report.keysChecked,
          }),
      },
      o,
    );
  }

  /** The source's shards as its topology plugin finds them now. */
  private async discover(): Promise<ShardSpec[]> {
    const plugin = this.registry.topology(this.spec.source.topology);
    return plugin.discover(plugin.parseOptions(this.spec.source.options), this.context());
  }

  get isCompleting(): boolean {
    return this.completing;
  }
}
