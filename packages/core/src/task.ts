import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { join } from 'node:path';
import { FerryError, isFerryError } from '@ferry/errors';
import type { ShardReader } from '@ferry/plugin-sdk';
import type { TaskCheckpoint } from './checkpoint.js';
import type { CheckReport, RunChecksOptions } from './checks/runChecks.js';
import { type DoneCheckResult, notInSync } from './done-check.js';
import { onSide } from './endpoint.js';
import { type ShardMetrics, TaskEmitter } from './events.js';
import { assertSameIdentity, type TaskIdentity, taskIdentity } from './identity.js';
import type { TargetImportMode } from './import-mode.js';
import type { KeyMapper } from './keys.js';
import { composeTransforms, type KeyTransform } from './keys.js';
import { RateLimiter } from './limiter.js';
import { MovedKeys } from './moved.js';
import { type RateLimit, type ResolvedOptions, resolveOptions } from './options.js';
import type { Logger, PluginContext, PluginRegistry, ShardSpec } from './plugins.js';
import type { ShardRunner } from './shard.js';
import { assertAllowed, canTransition, type TaskAction, type TaskState } from './state.js';
import type { TargetWriter } from './target/writer.js';
import { refuseMultiDb } from './target-checks.js';
import { precheck } from './task-check.js';
import { checkTaskDone } from './task-done.js';
import type { LeaseKeeper } from './task-lease.js';
import { runWithRetries, shardRunners } from './task-runners.js';
import type { EngineServices, TaskSpec } from './task-spec.js';
import { checkTargetSpec, endImportMode, openTaskTarget } from './task-target.js';
import { type VerifyTaskOptions, verifyTask } from './task-verify.js';
import { followTopology } from './task-watch.js';
import type { VerificationReport } from './verification.js';

export type { EngineServices, TaskSpec } from './task-spec.js';

const silent: Logger = { debug() {}, info() {}, warn() {} };

/** One migration: its state machine, its shards, its events and metrics. */
export class Task {
  readonly id: string;
  readonly events = new TaskEmitter();
  state: TaskState = 'created';
  readonly options: ResolvedOptions;
  /** The task's key transforms (plugins), composed; undefined without any. */
  readonly transform: KeyTransform | undefined;
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
    checkTargetSpec(spec.target, this.options);
    this.limiter = new RateLimiter(this.options.rateLimit);
    this.identity = taskIdentity(spec, this.options);
    registry.topology(spec.source.topology); // unknown topology: refused now, not at start
    this.transform = composeTransforms(this.options.transforms.map((t) => registry.transform(t)));
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
      await this.endImportMode(); // the check sees the target as its applications will
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
      if (this.writer && !this.lease?.lostTo) await this.endImportMode();
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
    const opened = await openTaskTarget({
      taskId: this.id,
      spec: this.spec,
      options: this.options,
      ...(this.transform ? { transform: this.transform } : {}),
      services: this.services,
      checkpoint: this.checkpoint,
      signal: this.controller.signal,
      emit: (event, payload) => this.events.emit(event, payload),
      targetLost: (node) => void this.targetLost(node).catch(() => undefined),
      lease: { lost: (err) => this.controller.abort(err), gone: (node) => this.onTargetLost(node) },
    });
    this.writer = opened.writer;
    this.lease = opened.lease;
    this.importMode = opened.importMode;
    const { mapper, targetOwned, worker: target } = opened;
    this.mapper = mapper;
    this.targetOwned = targetOwned;
    this.runners = shardRunners({
      taskId: this.id,
      shards: this.shards,
      writer: opened.writer,
      mapper,
      options: this.options,
      limiter: this.limiter,
      spoolDir: join(this.services.spoolDir, this.id),
      signal: this.controller.signal,
      checkpoint: this.checkpoint,
      saveCheckpoints: () => this.services.checkpoints.save(this.id, this.checkpoint),
      emit: (event, payload) => this.events.emit(event, payload),
      onStreaming: () => {
        if (this.state === 'full_sync' && this.runners.every((r) => r.metrics.phase === 'streaming'))
          this.setState('incremental_sync');
      },
      gate: () => this.pausedGate?.promise,
      moved: this.moved,
      ...(plugin.openReader
        ? { openReader: (shard, spec) => plugin.openReader?.(shard, spec, opts) as ShardReader }
        : {}),
      targetOwned,
      identity: this.identity,
      lease: () => this.lease,
      worker: target,
    });
  }

  /** Before "done": the target checked against the source, now (see task-done.ts). */
  private checkDone(): Promise<DoneCheckResult> {
    return checkTaskDone({
      taskId: this.id,
      spec: this.spec,
      options: this.options,
      shards: this.shards,
      runners: this.runners,
      writer: this.writer as TargetWriter,
      mapper: this.mapper as KeyMapper,
      targetOwned: this.targetOwned,
      verifier: this.services.verifier,
      signal: this.controller.signal,
    });
  }

  private importMode: TargetImportMode | undefined;
  private endImportMode = (): Promise<void> =>
    endImportMode(this.importMode, this.id, (e, p) => this.events.emit(e, p));

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

  /** A shard's passes, retried from its checkpoint while the failure is one a new pass gets past. */
  private runShard(r: ShardRunner): Promise<void> {
    return runWithRetries(r, {
      taskId: this.id,
      signal: this.controller.signal,
      stopping: () => this.stopping,
      emit: (event, payload) => this.events.emit(event, payload),
      targetLost: (node) => this.targetLost(node),
      abort: (err) => this.controller.abort(err),
    });
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
        transform: this.transform,
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
