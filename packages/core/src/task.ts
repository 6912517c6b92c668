import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { mkdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { FerryError, isFerryError } from '@ferry/errors';
import type { RespConnection } from '@ferry/resp';
import type { CheckpointStore, TaskCheckpoint } from './checkpoint.js';
import { type CheckReport, type RunChecksOptions, runChecks } from './checks/runChecks.js';
import { checkDone, type DoneCheckResult, notInSync } from './done-check.js';
import { connectEndpoint, type Endpoint, endpointName, onSide } from './endpoint.js';
import { type ShardMetrics, TaskEmitter, type TaskEvents } from './events.js';
import { OwnKeys } from './ferry-keys.js';
import { assertSameIdentity, type TaskIdentity, taskIdentity } from './identity.js';
import { KeyMapper, targetDbs } from './keys.js';
import { type LeaseNode, newOwner, TaskLease } from './lease.js';
import { RateLimiter } from './limiter.js';
import { MovedKeys } from './moved.js';
import { type RateLimit, type ResolvedOptions, resolveOptions, type TaskOptions } from './options.js';
import type { Logger, PluginContext, PluginRegistry, ShardSpec } from './plugins.js';
import { ShardRunner } from './shard.js';
import type { WorkerTarget } from './shard-context.js';
import { assertAllowed, canTransition, type TaskAction, type TaskState } from './state.js';
import type { ProxyKind } from './target/proxy.js';
import { TargetWriter } from './target/writer.js';
import type { VerificationReport, Verifier, VerifyModeName, VerifySide } from './verification.js';

export interface TaskSpec {
  /** Stable id: checkpoints and the target's checkpoint keys are named after it. Letters, digits, . _ - */
  id?: string;
  name?: string;
  tags?: string[];
  source: { topology: string; options: unknown };
  /**
   * `cluster`: a Redis Cluster (endpoint: any node). `proxy`: twemproxy or codis-proxy in front of
   * the servers (db 0, no MULTI/SELECT; codis: no RESTORE), with the servers' `version` if known.
   */
  target: {
    endpoint: Endpoint;
    cluster?: boolean;
    proxy?: ProxyKind;
    version?: string;
    maxKeyBytes?: number;
  };
  options?: TaskOptions;
}

export interface EngineServices {
  checkpoints: CheckpointStore;
  /** Spool files go under `<spoolDir>/<taskId>/<shardId>`. */
  spoolDir: string;
  log?: Logger;
  /** The verifier (`@ferry/verify`), for `task.verify()` and the check before "done". */
  verifier?: Verifier;
  /** How long the task's lease on the target lasts without a renewal. Default 15 s. */
  leaseTtlMs?: number;
}

/** Errors a new pass can get past (the link or a node dropped, a node was loading). */
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
    this.leaseLost = undefined;
    let stopLease = (): void => undefined;
    let succeeded = false;
    try {
      await this.prepare();
      stopLease = this.keepLease();
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
      await this.lease?.release(this.leaseNodes(this.lease.slots), { epochs: true });
      const check = await this.checkDone();
      this.doneCheck = check;
      this.events.emit('task:checked', { taskId: this.id, forced: this.forced, ...check });
      if (!check.ok && !this.forced) throw notInSync(this.id, check);
      await this.services.checkpoints.clear(this.id);
      succeeded = true;
      this.setState('succeeded', check.summary);
    } catch (err) {
      if (this.stopping || (isFerryError(err, 'ABORTED') && this.stopping)) {
        if (this.state !== 'stopping') this.setState('stopping');
        this.setState('stopped');
        return;
      }
      const e = this.leaseLost
        ? this.leaseLost
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
      if (!succeeded && this.writer && !this.leaseLost) await this.releaseLease();
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
    const started = Date.now();
    const ctx = this.context();
    let report: CheckReport | undefined;
    try {
      const plugin = this.registry.topology(this.spec.source.topology);
      let shards: ShardSpec[];
      try {
        shards = await plugin.discover(plugin.parseOptions(this.spec.source.options), ctx);
      } catch (err) {
        const e = err as Error;
        shards = [];
        report = {
          status: 'fail',
          results: [
            {
              checkId: 'connectivity',
              status: 'fail',
              message: `the source could not be discovered: ${e.message}`,
              advice: 'fix the source nodes (address, password, roles) and run the precheck again',
              details: { code: isFerryError(err) ? err.code : 'ERROR' },
            },
          ],
          checks: [],
          startedAt: new Date(started).toISOString(),
          durationMs: Date.now() - started,
        };
      }
      report ??= await runChecks(
        this.registry.checks(),
        {
          taskId: this.id,
          sourceTopology: this.spec.source.topology,
          shards,
          target: this.spec.target.endpoint,
          targetCluster: Boolean(this.spec.target.cluster),
          ...(this.spec.target.proxy ? { targetProxy: this.spec.target.proxy } : {}),
          options: this.options,
          spoolDir: join(this.services.spoolDir, this.id),
        },
        ctx,
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
  private lease: TaskLease | undefined;
  /** Set when another process took the lease over: the task fails with it. */
  private leaseLost: FerryError | undefined;
  private targetLoss: Promise<void> | undefined;
  /** Flushes of the target's db 0 under way (the lease's keys go with them, and come back after). */
  private flushing = 0;
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
    const report = (kind: TaskEvents['topology:change']['kind'], message: string, shardId?: string): void => {
      this.events.emit('topology:change', {
        taskId: this.id,
        kind,
        message,
        ...(shardId ? { shardId } : {}),
      });
    };
    try {
      for await (const change of plugin.watch(plugin.parseOptions(this.spec.source.options), ctx)) {
        if (signal.aborted) break;
        if (change.kind === 'failover') {
          const runner = this.runners.find(
            (r) => r.metrics.shardId === change.shard.id || change.shard.aliases?.includes(r.metrics.shardId),
          );
          if (!runner) {
            report('failover', `${change.detail} (shard ${change.shard.id} is not one this task reads)`);
            continue;
          }
          const moved = runner.retarget(change.shard);
          report(
            'failover',
            moved
              ? `${change.detail}: reading from ${endpointName(runner.sourceEndpoint)} now, continuing the same replication history`
              : `${change.detail}: the link stays on ${endpointName(runner.sourceEndpoint)}`,
            runner.metrics.shardId,
          );
        } else if (change.kind === 'slots-moving') {
          report('slots-moving', change.detail, change.shardId);
          for (const slot of change.slots) this.moved.unsettledSlots.add(slot);
          if (change.pause && (this.state === 'full_sync' || this.state === 'incremental_sync')) {
            this.pause();
            this.events.emit('task:warning', {
              taskId: this.id,
              shardId: change.shardId,
              message: `paused: ${change.detail}. Resume once the slot migration has finished`,
            });
          }
        } else {
          report('shards-changed', change.detail);
          this.events.emit('task:warning', {
            taskId: this.id,
            message: `${change.detail}: this task keeps reading the shards it started with; keys on the new shards are not migrated until the task is started again`,
          });
        }
      }
    } catch (err) {
      if (!signal.aborted)
        report('watch-error', `the source topology is no longer watched: ${(err as Error).message}`);
    }
  }

  private runnersAllResumed(): boolean {
    return this.shards.length > 0 && this.shards.every((s) => this.checkpoint[s.id]?.snapshotDone);
  }

  private async prepare(): Promise<void> {
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
      await this.refuseMultiDb();
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
      onTargetLost: (node) => void this.onTargetLost(node).catch(() => undefined),
    }).catch((err: unknown) => {
      throw onSide('target', err);
    });
    const mapper = new KeyMapper(
      this.options.dbMap,
      this.options.renamePrefix,
      this.options.filter,
      Boolean(t.cluster || t.proxy),
    );
    if (!t.cluster && !t.proxy) await this.checkTargetDbs(mapper);
    if (!t.proxy) {
      // one writer per task: taken before anything is written, proved by every connection after
      this.lease = new TaskLease(this.id, newOwner(), this.services.leaseTtlMs, this.options.reservedPrefix);
      await this.lease.acquire(this.leaseNodes());
      target.fence = this.lease.fence;
      await this.writer.setFence(this.lease.fence);
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
      (saved.length === 0 ? await this.checkEmptyTarget(mapper) : saved.some((c) => c.targetWasEmpty));
    this.mapper = mapper;
    this.targetOwned = targetOwned;
    const threads =
      this.options.snapshotThreads === 'always' ||
      (this.options.snapshotThreads === 'auto' && this.shards.length > 1 && availableParallelism() > 2);
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
        targetOwned,
        shardCount: this.shards.length,
        identity: this.identity,
        targetFlush: {
          begin: () => {
            this.flushing++;
          },
          end: () =>
            this.retakeLease().finally(() => {
              this.flushing--;
            }),
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

  /**
   * A cluster target has db 0 only: without a db map, keys of other source dbs would silently
   * merge into it. Refused, naming the dbs that hold keys.
   */
  private async refuseMultiDb(): Promise<void> {
    const busy = new Map<number, number>();
    await Promise.all(
      this.shards.map(async (shard) => {
        const e = shard.replicas[0] ?? shard.primary;
        const conn = await connectEndpoint(e, this.controller.signal);
        try {
          const text = String(await conn.send(['INFO', 'keyspace']));
          for (const m of text.matchAll(/^db(\d+):keys=(\d+)/gm)) {
            const db = Number(m[1]);
            if (db !== 0) busy.set(db, (busy.get(db) ?? 0) + Number(m[2]));
          }
        } finally {
          conn.destroy();
        }
      }),
    );
    if (busy.size === 0) return;
    const list = [...busy].sort((a, b) => a[0] - b[0]);
    throw new FerryError(
      'CONFIG_INVALID',
      `the target is ${this.spec.target.proxy ? `a ${this.spec.target.proxy} proxy` : 'a cluster'} (db 0 only) and the source has keys in db ${list.map(([db, n]) => `${db} (${n} keys)`).join(', ')}: map them with --db-map (e.g. --db-map 0=0,${list
        .map(([db]) => `${db}=0+db${db}:`)
        .join(',')} to keep them apart with a prefix), or migrate db 0 alone with --db-map 0=0`,
      { details: { dbs: Object.fromEntries(list) } },
    );
  }

  /**
   * Gives the lease back when the task ends without succeeding, over connections of its own: the
   * writer's may already be closed by the task's abort, and a lease left behind would keep the next
   * run out until it lapses.
   */
  private async releaseLease(): Promise<void> {
    const lease = this.lease;
    const w = this.writer;
    if (!lease || !w) return;
    const conns: RespConnection[] = [];
    try {
      const nodes: LeaseNode[] = [];
      for (const slot of lease.slots) {
        const conn = await connectEndpoint(
          w.nodeEndpoint(w.cluster ? slot : undefined),
          AbortSignal.timeout(10_000),
          {
            connectMs: 5_000,
            commandMs: 5_000,
          },
        );
        conns.push(conn);
        nodes.push({ slot, name: w.nodeName(w.cluster ? slot : undefined), send: (argv) => conn.send(argv) });
      }
      await lease.release(nodes);
    } catch {
      // the target is away: the lease lapses by itself
    } finally {
      for (const c of conns) c.destroy();
    }
  }

  /** The target's masters as the lease talks to them. */
  private leaseNodes(slots?: number[]): LeaseNode[] {
    const w = this.writer as TargetWriter;
    return (slots ?? w.masterSlots()).map((slot) => ({
      slot,
      name: w.nodeName(w.cluster ? slot : undefined),
      send: (argv) => w.send(0, w.cluster ? slot : undefined, argv, { idempotent: true }),
    }));
  }

  /**
   * Renews the lease while the task runs. Lost to another owner: the task stops (its writers' new
   * connections are refused by the fence, the old ones were closed by the new owner). Gone from
   * the target: the target lost the task's data, and every shard writes its snapshot again.
   */
  private keepLease(): () => void {
    const lease = this.lease;
    if (!lease) return () => undefined;
    let busy = false;
    const timer = setInterval(
      () => {
        if (busy || this.flushing > 0) return;
        busy = true;
        const generation = lease.generation;
        void lease
          .renew(this.leaseNodes(lease.slots))
          .then(async (r) => {
            // keys flushed by the task itself, or taken again since: not a loss
            if (r.state === 'gone' && (this.flushing > 0 || lease.generation !== generation)) return;
            if (r.state === 'lost') {
              this.leaseLost = new FerryError(
                'LEASE_HELD',
                `task ${this.id}: another process took over its lease on the target ${r.node} (this one, ${lease.owner}, was paused or cut off past the lease's ${Math.round(lease.ttlMs / 1000)} s); stopping without writing more`,
              );
              this.controller.abort(this.leaseLost);
            } else if (r.state === 'gone') await this.onTargetLost(r.node ?? '');
          })
          .catch((err: unknown) => {
            // a new connection's fence found another owner; otherwise the target is away (the
            // writers retry, the next renewal tells)
            if (isFerryError(err, 'LEASE_HELD')) {
              this.leaseLost = err;
              this.controller.abort(err);
            } else if (isFerryError(err, 'RESYNC_REQUIRED') && err.details?.targetLost)
              return this.onTargetLost(String(err.details.node ?? ''));
            return undefined;
          })
          .finally(() => {
            busy = false;
          });
      },
      Math.max(250, Math.floor(lease.ttlMs / 6)),
    );
    timer.unref();
    return () => clearInterval(timer);
  }

  /** Takes the lease again (its keys were flushed or lost) and gives the writers the new epochs. */
  private async retakeLease(): Promise<void> {
    const lease = this.lease;
    if (!lease || !this.writer) return;
    await lease.acquire(this.leaseNodes());
    await this.writer.setFence(lease.fence);
    const target = this.runners[0]?.context.snapshotWorker?.target;
    if (target) target.fence = lease.fence;
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
      await this.retakeLease(); // if the target is still away, the next renewal finds it gone again
    })().finally(() => {
      this.targetLoss = undefined;
    });
    return this.targetLoss;
  }

  /** Every target db the db map names exists there: refused before anything is written. */
  private async checkTargetDbs(mapper: KeyMapper): Promise<void> {
    const w = this.writer as TargetWriter;
    for (const db of targetDbs(mapper, false)) {
      try {
        await w.send(db, undefined, ['DBSIZE'], { idempotent: true });
      } catch (err) {
        if (!/DB index is out of range|invalid DB index/i.test((err as Error).message)) throw err;
        const from = Array.from({ length: 16 }, (_, i) => i).filter((s) => mapper.route(s)?.db === db);
        throw new FerryError(
          'CONFIG_INVALID',
          `the db map sends source db ${from.join(', ')} to db ${db}, which the target ${endpointName(this.spec.target.endpoint)} does not have (its "databases" setting is lower): map to a db it has, e.g. --db-map ${from[0] ?? 0}=0`,
          { details: { db } },
        );
      }
    }
  }

  /**
   * Whether the target's mapped dbs (every node of a cluster) are empty as a new task starts.
   * Under the "fail" conflict policy a non-empty target refuses the task.
   */
  private async checkEmptyTarget(mapper: KeyMapper): Promise<boolean> {
    const w = this.writer as TargetWriter;
    const dbs = targetDbs(mapper, w.cluster);
    for (const slot of w.masterSlots()) {
      for (const db of dbs) {
        const n = Number(await w.send(db, w.cluster ? slot : undefined, ['DBSIZE']).catch(() => 0));
        if (n > 0) {
          // keys of Ferry's own (checkpoints of an earlier task) do not count
          const sample: Buffer[] = [];
          let whole = true; // the whole db was scanned
          for await (const page of w.scan(db, w.cluster ? slot : undefined, { count: 100 })) {
            sample.push(...page);
            if (sample.length >= 100) {
              whole = false;
              break;
            }
          }
          const own = new OwnKeys(this.options.reservedPrefix);
          const ours = sample.every((k) => own.is(k));
          if (ours && sample.length > 0 && (whole || sample.length >= n)) continue;
          if (this.options.conflict !== 'fail') return false;
          // the user's keys (Ferry's own, a lease kept between runs, are not theirs to empty)
          const theirs = whole ? sample.filter((k) => !own.is(k)).length : n;
          throw new FerryError(
            'TARGET_WRITE_FAILED',
            `target ${endpointName(this.spec.target.endpoint)} is not empty: db ${db} holds ${theirs} keys (conflict policy "fail"). Empty it, or choose --conflict replace or --conflict skip`,
            { details: { db, keys: theirs } },
          );
        }
      }
    }
    return true;
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
          await this.onTargetLost(String(err.details.node ?? '')).catch(() => undefined);
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
  async verify(
    o: {
      mode?: VerifyModeName;
      rounds?: number;
      intervalMs?: number;
      sample?: number;
      keysPerSec?: number;
      signal?: AbortSignal;
    } = {},
  ): Promise<VerificationReport> {
    const verifier = this.services.verifier;
    if (!verifier) throw new FerryError('CONFIG_INVALID', 'no verifier is configured for this engine');
    const t = this.spec.target;
    if (t.proxy)
      throw new FerryError(
        'CONFIG_INVALID',
        `a ${t.proxy} target cannot be scanned through the proxy: verify against its servers (ferry verify)`,
      );
    let shards = this.shards;
    if (shards.length === 0) {
      const plugin = this.registry.topology(this.spec.source.topology);
      shards = await plugin.discover(plugin.parseOptions(this.spec.source.options), this.context());
    }
    const read = (s: ShardSpec): Endpoint => s.replicas[0] ?? s.primary;
    const source: VerifySide =
      this.spec.source.topology === 'cluster'
        ? { endpoint: (shards[0] as ShardSpec).primary, cluster: true }
        : shards.length === 1
          ? { endpoint: read(shards[0] as ShardSpec) }
          : { shards: shards.map(read) };
    const report = await verifier({
      source,
      target: { endpoint: t.endpoint, cluster: Boolean(t.cluster) },
      mode: o.mode ?? 'full',
      rounds: o.rounds ?? 3,
      intervalMs: o.intervalMs ?? 1000,
      ...(o.sample !== undefined ? { sample: o.sample } : {}),
      ...(o.keysPerSec !== undefined ? { keysPerSec: o.keysPerSec } : {}),
      ...(this.options.dbMap ? { dbMap: this.options.dbMap } : {}),
      ...(this.options.renamePrefix ? { renamePrefix: this.options.renamePrefix } : {}),
      filter: this.options.filter,
      reservedPrefix: this.options.reservedPrefix,
      ...(o.signal ? { signal: o.signal } : {}),
      onProgress: (p) => this.events.emit('verify:progress', { taskId: this.id, ...p }),
    });
    this.events.emit('verify:done', {
      taskId: this.id,
      differences: report.differences,
      counts: report.counts,
      keysChecked: report.keysChecked,
    });
    return report;
  }

  get isCompleting(): boolean {
    return this.completing;
  }
}
