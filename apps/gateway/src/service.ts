import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { builtinChecks } from '@ferry/checks-builtin';
import {
  ALLOWED_ACTIONS,
  type CheckReport,
  createEngine,
  type Endpoint,
  type Engine,
  endpointName,
  type FerryPlugin,
  type ProxyKind,
  type RateLimit,
  resolveOptions,
  serverIdentity,
  type Task,
  type TaskAction,
  type TaskEvents,
  type TaskOptions,
  type TaskSpec,
  type TaskState,
} from '@ferry/core';
import { FerryError, isFerryError } from '@ferry/errors';
import { describeOptions } from '@ferry/plugin-sdk';
import { connect } from '@ferry/resp';
import { sourceCluster } from '@ferry/source-cluster';
import { sourceCodis } from '@ferry/source-codis';
import { checkSourceFiles, sourceFile } from '@ferry/source-file';
import { sourceStandalone } from '@ferry/source-standalone';
import { sourceTwemproxy } from '@ferry/source-twemproxy';
import type { Storage, StoredTask, VerifyRunRow } from '@ferry/storage';
import { verifier } from '@ferry/verify';
import type { Logger } from 'pino';

/** A GraphQL-facing error with a stable `extensions.code`. */
export class ServiceError extends Error {
  constructor(
    readonly code:
      | 'NOT_FOUND'
      | 'ACTION_NOT_ALLOWED'
      | 'BAD_INPUT'
      | 'PRECHECK_REQUIRED'
      | 'LAGGING'
      | 'INTERNAL',
    message: string,
  ) {
    super(message);
  }
}

export interface TargetSpec {
  endpoint: Endpoint;
  cluster?: boolean;
  proxy?: ProxyKind;
  version?: string;
}

export interface CreateTaskInput {
  name: string;
  tags?: string[];
  source: { topology: string; options: Record<string, unknown> };
  target: TargetSpec;
  options?: TaskOptions;
  scheduledAt?: Date;
}

/** Where the data is: the shards' furthest-behind step (no shard yet: idle). */
export type Phase = 'idle' | 'connecting' | 'waiting_bgsave' | 'snapshot' | 'incremental' | 'done';

export function phaseOf(shardPhase: string | undefined): Phase {
  switch (shardPhase) {
    case 'connecting':
      return 'connecting';
    case 'waiting-bgsave':
      return 'waiting_bgsave';
    case 'snapshot':
      return 'snapshot';
    case 'streaming':
      return 'incremental';
    case 'done':
      return 'done';
    default:
      return 'idle';
  }
}

export interface Progress {
  taskId: string;
  state: string;
  phase: Phase;
  /** 0–100 over the snapshot (keys loaded ÷ keys expected); 100 once every shard streams. */
  percent: number;
  /** Snapshot keys loaded so far, and how many the snapshots hold (0 while not known yet). */
  keysLoaded: number;
  keysTotal: number;
  /** Seconds left of the snapshot at the current rate (null when not in the snapshot or no rate yet). */
  etaSeconds: number | null;
  /** Over the last few seconds: snapshot keys written, stream commands applied. */
  keysPerSec: number;
  commandsPerSec: number;
  lagBytes: number;
  lagSeconds: number | null;
  at: Date;
}

/** A few seconds of (time, keys, commands) samples: the rates a progress update shows. */
export class RateWindow {
  private readonly points: Array<{ at: number; keys: number; commands: number }> = [];
  constructor(private readonly spanMs = 5000) {}
  add(at: number, keys: number, commands: number): { keysPerSec: number; commandsPerSec: number } {
    this.points.push({ at, keys, commands });
    while (this.points.length > 2 && at - (this.points[1] as { at: number }).at >= this.spanMs)
      this.points.shift();
    const first = this.points[0] as { at: number; keys: number; commands: number };
    const secs = (at - first.at) / 1000;
    if (secs < 0.05) return { keysPerSec: 0, commandsPerSec: 0 };
    return {
      keysPerSec: Math.max(0, (keys - first.keys) / secs),
      commandsPerSec: Math.max(0, (commands - first.commands) / secs),
    };
  }
}

const RUNNING: readonly string[] = [
  'preparing',
  'full_sync',
  'incremental_sync',
  'paused',
  'completing',
  'stopping',
  'retrying',
];

export function sourcePlugins(): FerryPlugin[] {
  return [
    sourceStandalone(),
    sourceCluster(),
    sourceTwemproxy(),
    sourceCodis(),
    sourceFile(),
    checkSourceFiles(),
  ] as FerryPlugin[];
}

/**
 * The service behind the gateway: tasks kept in storage, run by the engine, their events and metrics
 * recorded, progress published, scheduled tasks started on time and running ones resumed after a
 * restart (from the checkpoints in storage).
 */
/** Lengths a task's text may have: a name or tag is shown and logged, never a megabyte of it. */
const MAX_NAME = 200;
const MAX_TAGS = 20;
const MAX_TAG = 64;

export class FerryService {
  readonly engine: Engine;
  private readonly live = new Map<string, Task>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly rates = new Map<string, RateWindow>();
  readonly bus = new EventEmitter();
  /** Called when an alarm rule is added (the evaluator re-reads its rules). */
  onAlarmRule: () => void = () => undefined;
  private closed = false;

  constructor(
    readonly storage: Storage,
    private readonly o: { dataDir: string; log: Logger; progressEveryMs?: number; plugins?: FerryPlugin[] },
  ) {
    this.bus.setMaxListeners(1000);
    this.engine = createEngine({
      plugins: [...(o.plugins ?? sourcePlugins()), ...builtinChecks()],
      checkpoints: storage.checkpoints(),
      spoolDir: join(o.dataDir, 'spool'),
      verifier,
    });
  }

  /** After a start: tasks that were running resume, scheduled ones get their timer. */
  async recover(): Promise<void> {
    const { items } = await this.storage.listTasks({}, { limit: 100_000 });
    for (const t of items) {
      if (RUNNING.includes(t.status)) {
        this.o.log.info({ task: t.id, status: t.status }, 'resuming a task that was running');
        await this.event(
          t.id,
          'resume',
          `the gateway restarted while the task was ${t.status}: resuming from its checkpoint`,
        );
        await this.launch(t);
      } else if (t.status === 'scheduled' && t.scheduledAt) this.arm(t.id, t.scheduledAt);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers.values()) clearTimeout(t);
    // running tasks are left as they are: their checkpoints are in storage, a restart resumes them
    await Promise.all(
      [...this.live.values()].map((t) =>
        RUNNING.includes(t.state) ? t.stop().catch(() => undefined) : undefined,
      ),
    );
  }

  // ------------------------------------------------------------------ reads

  async get(id: string): Promise<StoredTask> {
    const t = await this.storage.getTask(id);
    if (!t) throw new ServiceError('NOT_FOUND', `no task ${JSON.stringify(id)}`);
    return t;
  }

  state(t: StoredTask): TaskState {
    return (this.live.get(t.id)?.state ?? t.status) as TaskState;
  }

  /** What the user may do now (start needs a precheck without fail, warnings acknowledged). */
  async allowedActions(t: StoredTask): Promise<string[]> {
    const state = this.state(t);
    const base = [...(ALLOWED_ACTIONS[state] ?? [])] as string[];
    const out = base.filter((a) => a !== 'check');
    if (base.includes('check')) out.unshift('precheck');
    if (base.includes('start') && !(await this.startable(t)).ok) out.splice(out.indexOf('start'), 1);
    if (
      state === 'check_passed' &&
      !t.warningsAcknowledged &&
      (await this.storage.lastCheckReport(t.id))?.report.status === 'warn'
    )
      out.push('acknowledgeWarnings');
    if (['created', 'check_passed', 'check_failed', 'stopped', 'failed', 'scheduled'].includes(state))
      out.push('update');
    if (RUNNING.includes(state)) out.push('setRateLimit');
    return out;
  }

  live_(id: string): Task | undefined {
    return this.live.get(id);
  }

  liveTasks(): Map<string, Task> {
    return this.live;
  }

  /** Target and source as shown: endpoints without their passwords. */
  view(t: StoredTask): {
    source: { topology: string; nodes: Endpoint[]; detail: string };
    target: TargetSpec;
  } {
    const src = this.storage.unseal<Record<string, unknown>>(t.sourceOptions);
    const target = this.storage.unseal<TargetSpec>(t.target);
    const nodes = (Array.isArray(src.nodes) ? (src.nodes as Endpoint[]) : []).filter(
      (n) => typeof n === 'object',
    );
    // where the source is: the options its topology marks as locating it (a file, a config, an
    // address), else its nodes
    const plugin = this.engine.registry.sourceTopologies().find((p) => p.topology === t.sourceTopology);
    const locating = plugin?.options
      ? describeOptions(plugin.options, plugin.topology).filter((f) => f.locates && src[f.name] !== undefined)
      : [];
    const detail =
      locating.length > 0
        ? locating
            .map((f) =>
              Array.isArray(src[f.name]) ? (src[f.name] as unknown[]).join(', ') : String(src[f.name]),
            )
            .join(' ')
        : nodes.map(endpointName).join(', ');
    return { source: { topology: t.sourceTopology, nodes, detail }, target };
  }

  // ------------------------------------------------------------------ create / update

  private validate(input: CreateTaskInput, id: string): TaskSpec {
    if (input.name.length > MAX_NAME)
      throw new ServiceError(
        'BAD_INPUT',
        `a task name has at most ${MAX_NAME} characters (got ${input.name.length})`,
      );
    const tags = input.tags ?? [];
    if (tags.length > MAX_TAGS)
      throw new ServiceError('BAD_INPUT', `a task has at most ${MAX_TAGS} tags (got ${tags.length})`);
    const long = tags.find((t) => t.length > MAX_TAG);
    if (long !== undefined)
      throw new ServiceError('BAD_INPUT', `a tag has at most ${MAX_TAG} characters (one has ${long.length})`);
    const spec: TaskSpec = {
      id,
      name: input.name,
      tags: input.tags ?? [],
      source: input.source,
      target: input.target,
      options: input.options ?? {},
    };
    try {
      resolveOptions(spec.options);
      const plugin = this.engine.registry.topology(spec.source.topology);
      plugin.parseOptions(spec.source.options);
      this.engine.createTask(spec); // what the engine refuses (proxy + cluster, codis + restore…)
    } catch (err) {
      throw new ServiceError('BAD_INPUT', (err as Error).message);
    }
    return spec;
  }

  async create(input: CreateTaskInput): Promise<StoredTask> {
    if (!input.name.trim()) throw new ServiceError('BAD_INPUT', 'a task needs a name');
    const id = `t-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
    this.validate(input, id);
    const row = await this.storage.insertTask({
      id,
      name: input.name.trim(),
      tags: input.tags ?? [],
      sourceTopology: input.source.topology,
      sourceOptions: this.storage.seal(input.source.options),
      target: this.storage.seal(input.target),
      options: (input.options ?? {}) as Record<string, unknown>,
      runningMode: input.scheduledAt ? 'scheduled' : 'immediate',
      scheduledAt: input.scheduledAt ?? null,
      status: 'created',
      warningsAcknowledged: false,
      error: null,
    });
    await this.event(id, 'created', `task "${row.name}" created`);
    return row;
  }

  async update(id: string, patch: Partial<CreateTaskInput>): Promise<StoredTask> {
    const t = await this.get(id);
    if (!(await this.allowedActions(t)).includes('update'))
      throw new ServiceError(
        'ACTION_NOT_ALLOWED',
        `task ${id} cannot be changed while it is ${this.state(t)}`,
      );
    const current = this.spec(t);
    const merged: CreateTaskInput = {
      name: patch.name ?? t.name,
      tags: patch.tags ?? t.tags,
      source: patch.source ?? (current.source as CreateTaskInput['source']),
      target: patch.target ?? current.target,
      options: patch.options ?? (t.options as TaskOptions),
    };
    this.validate(merged, id);
    const changed = Boolean(patch.source || patch.target || patch.options);
    const row = await this.storage.updateTask(id, {
      name: merged.name,
      tags: merged.tags ?? [],
      sourceTopology: merged.source.topology,
      sourceOptions: this.storage.seal(merged.source.options),
      target: this.storage.seal(merged.target),
      options: (merged.options ?? {}) as Record<string, unknown>,
      // what was checked is no longer what would run
      ...(changed ? { status: 'created', warningsAcknowledged: false } : {}),
    });
    if (changed) this.live.delete(id);
    await this.event(
      id,
      'updated',
      changed ? 'task changed: run the precheck again' : 'task renamed or retagged',
    );
    return row as StoredTask;
  }

  spec(t: StoredTask): TaskSpec {
    return {
      id: t.id,
      name: t.name,
      tags: t.tags,
      source: { topology: t.sourceTopology, options: this.storage.unseal(t.sourceOptions) },
      target: this.storage.unseal<TargetSpec>(t.target),
      options: t.options as TaskOptions,
    };
  }

  // ------------------------------------------------------------------ precheck

  async precheck(id: string): Promise<{ report: CheckReport; t: StoredTask }> {
    const t = await this.get(id);
    const state = this.state(t);
    if (!(ALLOWED_ACTIONS[state] ?? []).includes('check'))
      throw new ServiceError('ACTION_NOT_ALLOWED', `cannot run the precheck of a task that is ${state}`);
    const task = this.engine.createTask(this.spec(t));
    this.attach(task);
    this.live.set(id, task);
    const report = await task.check();
    await this.storage.saveCheckReport(id, report);
    const row = await this.storage.updateTask(id, {
      status: task.state,
      warningsAcknowledged: report.status === 'pass',
    });
    await this.event(
      id,
      'precheck',
      `precheck: ${report.status} (${report.results.filter((r) => r.status !== 'pass').length} not passing)`,
      {
        status: report.status,
      },
    );
    return { report, t: row as StoredTask };
  }

  async acknowledge(id: string): Promise<StoredTask> {
    const t = await this.get(id);
    const last = await this.storage.lastCheckReport(id);
    if (!last)
      throw new ServiceError('PRECHECK_REQUIRED', `task ${id} has no precheck to acknowledge: run it first`);
    if (last.report.status === 'fail')
      throw new ServiceError(
        'ACTION_NOT_ALLOWED',
        'a failed precheck cannot be acknowledged: fix what failed and run it again',
      );
    const warnings = last.results.filter((r) => r.status === 'warn');
    const row = await this.storage.updateTask(id, { warningsAcknowledged: true });
    await this.event(id, 'acknowledged', `${warnings.length} precheck warning(s) acknowledged`, {
      warnings: warnings.map((w) => `${w.checkId}: ${w.message}`),
    });
    return row ?? t;
  }

  private async startable(t: StoredTask): Promise<{ ok: boolean; why?: string }> {
    const state = this.state(t);
    if (state === 'stopped' || state === 'failed' || state === 'scheduled') return { ok: true };
    const last = await this.storage.lastCheckReport(t.id);
    if (!last) return { ok: false, why: 'run the precheck first' };
    if (last.report.status === 'fail')
      return { ok: false, why: 'the last precheck failed: fix it and run the precheck again' };
    if (last.report.status === 'warn' && !t.warningsAcknowledged)
      return { ok: false, why: 'the last precheck has warnings: acknowledge them first' };
    return { ok: true };
  }

  // ------------------------------------------------------------------ lifecycle

  async start(id: string): Promise<StoredTask> {
    const t = await this.get(id);
    const state = this.state(t);
    if (!(ALLOWED_ACTIONS[state] ?? []).includes('start'))
      throw new ServiceError('ACTION_NOT_ALLOWED', `cannot start a task that is ${state}`);
    const ok = await this.startable(t);
    if (!ok.ok) throw new ServiceError('PRECHECK_REQUIRED', `task ${id} cannot start: ${ok.why}`);
    this.disarm(id);
    await this.launch(t);
    return this.get(id);
  }

  async schedule(id: string, at: Date): Promise<StoredTask> {
    const t = await this.get(id);
    const state = this.state(t);
    if (!(ALLOWED_ACTIONS[state] ?? []).includes('schedule') && state !== 'scheduled')
      throw new ServiceError('ACTION_NOT_ALLOWED', `cannot schedule a task that is ${state}`);
    const ok = await this.startable(t);
    if (!ok.ok) throw new ServiceError('PRECHECK_REQUIRED', `task ${id} cannot be scheduled: ${ok.why}`);
    if (!(at.getTime() > Date.now()))
      throw new ServiceError('BAD_INPUT', `the start time ${at.toISOString()} is not in the future`);
    const row = await this.storage.updateTask(id, {
      status: 'scheduled',
      runningMode: 'scheduled',
      scheduledAt: at,
    });
    this.live.delete(id);
    await this.event(id, 'scheduled', `scheduled to start at ${at.toISOString()}`);
    this.arm(id, at);
    return row as StoredTask;
  }

  private arm(id: string, at: Date): void {
    this.disarm(id);
    const fire = (): void => {
      const left = at.getTime() - Date.now();
      if (left > 2 ** 30) {
        this.timers.set(id, setTimeout(fire, 2 ** 30));
        return;
      }
      this.timers.set(
        id,
        setTimeout(
          () => {
            this.timers.delete(id);
            void this.get(id)
              .then((t) => (t.status === 'scheduled' ? this.launch(t) : undefined))
              .catch((err: unknown) => this.o.log.error({ task: id, err }, 'scheduled start failed'));
          },
          Math.max(0, left),
        ),
      );
    };
    fire();
  }

  private disarm(id: string): void {
    const t = this.timers.get(id);
    if (t) clearTimeout(t);
    this.timers.delete(id);
  }

  /** Runs the task in the engine (resuming from its stored checkpoint); returns once it has started. */
  private async launch(t: StoredTask, o: { fresh?: boolean } = {}): Promise<void> {
    if (this.closed) return;
    const task = this.engine.createTask(this.spec(t));
    this.attach(task);
    this.live.set(t.id, task);
    const running = task.start(o);
    running.catch(() => undefined); // the failure is recorded by the state events
    await this.storage.updateTask(t.id, { status: task.state, error: null });
  }

  async pause(id: string): Promise<StoredTask> {
    return this.act(id, 'pause', (task) => task.pause());
  }

  async resume(id: string): Promise<StoredTask> {
    return this.act(id, 'resume', (task) => task.resume());
  }

  async stop(id: string): Promise<StoredTask> {
    const t = await this.get(id);
    if (this.state(t) === 'scheduled') {
      this.disarm(id);
      await this.storage.updateTask(id, { status: 'stopped' });
      await this.event(id, 'state', 'scheduled → stopped (the scheduled start is cancelled)');
      return this.get(id);
    }
    return this.act(id, 'stop', (task) => task.stop());
  }

  async complete(id: string, force: boolean): Promise<StoredTask> {
    const t = await this.get(id);
    const task = this.running(t, 'complete');
    if (!force && task.lagBytes() > 0)
      throw new ServiceError(
        'LAGGING',
        `task ${id} is ${task.lagBytes()} bytes behind its source: complete once the lag is 0, or force it`,
      );
    const done = task.complete({ force });
    done.catch(() => undefined);
    await new Promise((r) => setTimeout(r, 0));
    return this.get(id);
  }

  async retry(id: string, o: { fresh?: boolean } = {}): Promise<StoredTask> {
    const t = await this.get(id);
    const state = this.state(t);
    if (!(ALLOWED_ACTIONS[state] ?? []).includes('retry'))
      throw new ServiceError(
        'ACTION_NOT_ALLOWED',
        `cannot ${o.fresh ? 'restart' : 'retry'} a task that is ${state}`,
      );
    await this.event(
      id,
      'retry',
      o.fresh ? 'restarted: its checkpoint dropped, starting over' : 'retried: resuming from its checkpoint',
    );
    await this.launch(t, o);
    return this.get(id);
  }

  async clone(id: string, name?: string): Promise<StoredTask> {
    const t = await this.get(id);
    const spec = this.spec(t);
    return this.create({
      name: name ?? `${t.name} (copy)`,
      tags: t.tags,
      source: spec.source as CreateTaskInput['source'],
      target: spec.target,
      options: spec.options ?? {},
    });
  }

  async remove(id: string): Promise<boolean> {
    const t = await this.get(id);
    const state = this.state(t);
    if (!(ALLOWED_ACTIONS[state] ?? []).includes('delete'))
      throw new ServiceError('ACTION_NOT_ALLOWED', `cannot delete a task that is ${state}: stop it first`);
    this.disarm(id);
    this.live.delete(id);
    return this.storage.deleteTask(id);
  }

  /**
   * Starts a verification of the task (while it streams, or after it ended) and returns its run
   * at once; the run's row is updated when it ends, its progress goes to the task's subscribers.
   */
  async verify(
    id: string,
    o: { mode: 'outline' | 'length' | 'full'; rounds: number; sample?: number; keysPerSec?: number },
  ): Promise<VerifyRunRow> {
    const t = await this.get(id);
    const task = this.live.get(id) ?? this.engine.createTask(this.spec(t));
    if (!['outline', 'length', 'full'].includes(o.mode))
      throw new ServiceError('BAD_INPUT', `mode must be outline, length or full; got "${o.mode}"`);
    if (!(o.rounds >= 1 && o.rounds <= 10)) throw new ServiceError('BAD_INPUT', 'rounds must be 1 to 10');
    if (o.sample !== undefined && !(o.sample > 0 && o.sample <= 1))
      throw new ServiceError('BAD_INPUT', 'sample must be above 0 and at most 1');
    if (this.storage.unseal<TargetSpec>(t.target).proxy)
      throw new ServiceError(
        'BAD_INPUT',
        'a proxy target cannot be scanned through the proxy: verify against its servers',
      );
    const run = await this.storage.startVerifyRun(id, o.mode);
    await this.event(
      id,
      'verify',
      `verification ${run.id} started (${o.mode}, ${o.rounds} rounds${o.sample ? `, sample ${o.sample}` : ''})`,
    );
    const off = task.events.on('verify:progress', (p) =>
      this.bus.emit(`event:${id}`, {
        id: 0,
        at: new Date(),
        kind: 'verify-progress',
        message: `round ${p.round}: ${p.keysChecked} keys checked, ${p.differences} differences`,
        data: p,
      }),
    );
    void task
      .verify({
        mode: o.mode,
        rounds: o.rounds,
        ...(o.sample ? { sample: o.sample } : {}),
        ...(o.keysPerSec ? { keysPerSec: o.keysPerSec } : {}),
      })
      .then(async (r) => {
        await this.storage.finishVerifyRun(run.id, {
          status: 'done',
          rounds: r.rounds,
          keysChecked: r.keysChecked,
          differences: r.differences,
          counts: r.counts,
          perRound: r.perRound,
          details: r.details.slice(0, 1000) as unknown as Array<Record<string, unknown>>,
        });
        await this.event(
          id,
          'verify',
          `verification ${run.id}: ${r.differences} differences after ${r.rounds} round(s), ${r.keysChecked} keys checked`,
          {
            run: run.id,
            counts: r.counts,
          },
        );
      })
      .catch(async (err: unknown) => {
        await this.storage.finishVerifyRun(run.id, { status: 'failed', error: (err as Error).message });
        await this.event(id, 'verify', `verification ${run.id} failed: ${(err as Error).message}`, {
          run: run.id,
        });
      })
      .finally(off);
    return run;
  }

  async setRateLimit(id: string, limit: RateLimit): Promise<StoredTask> {
    const t = await this.get(id);
    const task = this.live.get(id);
    const options = { ...(t.options as TaskOptions), rateLimit: limit };
    try {
      resolveOptions(options);
    } catch (err) {
      throw new ServiceError('BAD_INPUT', (err as Error).message);
    }
    task?.setRateLimit(limit);
    await this.event(
      id,
      'rate-limit',
      `rate limit: ${limit.keysPerSec ?? 0} keys/s, ${limit.bytesPerSec ?? 0} bytes/s (0: none)`,
    );
    return (await this.storage.updateTask(id, { options: options as Record<string, unknown> })) as StoredTask;
  }

  private running(t: StoredTask, action: TaskAction): Task {
    const task = this.live.get(t.id);
    const state = this.state(t);
    if (!task || !(ALLOWED_ACTIONS[state] ?? []).includes(action))
      throw new ServiceError('ACTION_NOT_ALLOWED', `cannot ${action} a task that is ${state}`);
    return task;
  }

  private async act(id: string, action: TaskAction, fn: (task: Task) => unknown): Promise<StoredTask> {
    const t = await this.get(id);
    const task = this.running(t, action);
    try {
      await fn(task);
    } catch (err) {
      throw new ServiceError(
        isFerryError(err, 'CONFIG_INVALID') ? 'ACTION_NOT_ALLOWED' : 'INTERNAL',
        (err as Error).message,
      );
    }
    await this.storage.updateTask(id, { status: task.state });
    return this.get(id);
  }

  // ------------------------------------------------------------------ events, progress, metrics

  /** Records a task event (alarms use it for their deliveries). */
  record(taskId: string, kind: string, message: string, data?: Record<string, unknown>): Promise<void> {
    return this.event(taskId, kind, message, data);
  }

  /** Per task and shard: (time, source offset) samples not yet applied, oldest first. */
  private readonly offsets = new Map<string, Map<string, Array<{ at: number; offset: number }>>>();
  private readonly fullSyncAt = new Map<string, number>();

  /**
   * How far behind a live task is, in seconds: per shard, the age of the oldest source offset seen
   * (sampled at each call, about once a second) that the target has not yet acknowledged; the
   * heartbeat's measured lag when that is larger. 0 when caught up; null for a task not running.
   */
  secondsBehind(taskId: string): number | null {
    const task = this.live.get(taskId);
    if (!task) return null;
    const now = Date.now();
    let perShard = this.offsets.get(taskId);
    if (!perShard) {
      perShard = new Map();
      this.offsets.set(taskId, perShard);
    }
    let worst = 0;
    for (const m of task.metrics()) {
      const seen = Math.max(m.sourceOffset, m.receivedOffset);
      let q = perShard.get(m.shardId);
      if (!q) {
        q = [];
        perShard.set(m.shardId, q);
      }
      if (seen > m.appliedOffset && (q.length === 0 || (q[q.length - 1]?.offset ?? 0) < seen))
        q.push({ at: now, offset: seen });
      while (q.length > 0 && (q[0]?.offset ?? 0) <= m.appliedOffset) q.shift();
      if (q.length > 600) q.splice(0, q.length - 600);
      const oldest = q[0];
      if (oldest) worst = Math.max(worst, (now - oldest.at) / 1000);
      if (m.lagMs !== undefined && m.lagMs > 0 && m.lagBytes > 0) worst = Math.max(worst, m.lagMs / 1000);
    }
    return worst;
  }

  /** When the task's current snapshot phase began (undefined when it is not in one). */
  fullSyncSince(taskId: string): number | undefined {
    return this.fullSyncAt.get(taskId);
  }

  private async event(
    taskId: string,
    kind: string,
    message: string,
    data?: Record<string, unknown>,
  ): Promise<void> {
    const row = await this.storage.addEvent(taskId, kind, message, data).catch((err: unknown) => {
      this.o.log.error({ err, task: taskId }, 'could not record an event');
      return undefined;
    });
    if (row) this.bus.emit(`event:${taskId}`, row);
    this.o.log.info({ task: taskId, kind, msg: message }, 'task event');
  }

  private attach(task: Task): void {
    const id = task.id;
    const everyMs = this.o.progressEveryMs ?? 250;
    let lastProgress = 0;
    const rates = new RateWindow();
    this.rates.set(id, rates);
    let pending: NodeJS.Timeout | undefined;
    const publish = (): void => {
      pending = undefined;
      lastProgress = Date.now();
      this.bus.emit(`progress:${id}`, this.progress(task));
    };
    const now = (): void => {
      if (pending) clearTimeout(pending);
      publish();
    };
    const tick = (): void => {
      // at most one update per `everyMs` per task, the last one always sent
      if (pending) return;
      const wait = Math.max(0, lastProgress + everyMs - Date.now());
      pending = setTimeout(publish, wait);
    };
    const sampler = setInterval(() => {
      if (!this.live.has(id) || this.live.get(id) !== task) return;
      const m = task.metrics();
      if (m.length === 0) return;
      void this.storage
        .addMetric({
          taskId: id,
          at: new Date(),
          phase: task.state,
          keys: m.reduce((n, s) => n + s.keys, 0),
          commands: m.reduce((n, s) => n + s.commands, 0),
          snapshotBytes: m.reduce((n, s) => n + s.snapshotBytes, 0),
          lagBytes: task.lagBytes(),
          lagMs: m.some((s) => s.lagMs !== undefined) ? Math.max(...m.map((s) => s.lagMs ?? 0)) : null,
          errors: m.reduce((n, s) => n + Object.values(s.errors).reduce((a, b) => a + b, 0), 0),
        })
        .catch(() => undefined);
      void this.storage.saveShardMetrics(id, m).catch(() => undefined);
    }, 1000);
    sampler.unref();
    task.events.on('task:state', (s: TaskEvents['task:state']) => {
      if (s.to === 'full_sync') this.fullSyncAt.set(id, Date.now());
      else if (s.to !== 'paused') this.fullSyncAt.delete(id);
      void this.storage
        .updateTask(id, {
          status: s.to,
          ...(s.to === 'failed' ? { error: task.error?.message ?? s.reason ?? 'failed' } : {}),
        })
        .catch(() => undefined);
      void this.event(id, 'state', `${s.from} → ${s.to}${s.reason ? `: ${s.reason}` : ''}`, {
        from: s.from,
        to: s.to,
      });
      if (['succeeded', 'failed', 'stopped', 'check_passed', 'check_failed'].includes(s.to)) {
        clearInterval(sampler);
        void this.storage.saveShardMetrics(id, task.metrics()).catch(() => undefined);
      }
      now(); // every state change is sent (they are few): a subscriber sees full_sync even when it is short
      this.bus.emit('state', s);
    });
    task.events.on('task:error', (e) => {
      this.bus.emit('task-error', { ...e, taskId: id });
      void this.event(id, 'error', `${e.shardId ? `${e.shardId}: ` : ''}${e.message}`, {
        code: e.code,
        retrying: e.retrying,
      });
    });
    task.events.on(
      'task:warning',
      (w) =>
        void this.event(id, 'warning', w.message, {
          ...(w.key ? { key: w.key } : {}),
          ...(w.command ? { command: w.command } : {}),
        }),
    );
    task.events.on('topology:change', (c) => void this.event(id, 'topology', c.message, { kind: c.kind }));
    task.events.on(
      'target:import-mode',
      (m) => void this.event(id, 'import-mode', m.message, { on: m.on, nodes: m.nodes }),
    );
    task.events.on(
      'task:checked',
      (c) =>
        void this.event(
          id,
          'checked',
          `${c.ok ? 'checked against both servers' : c.forced ? 'forced completion, and the check found' : 'not done'}: ${c.problem ?? c.summary}`,
          {
            ok: c.ok,
            exact: c.exact,
            forced: c.forced,
            sourceKeys: c.sourceKeys ?? null,
            targetKeys: c.targetKeys ?? null,
            sampled: c.sampled,
            sampleDifferences: c.sampleDifferences,
          },
        ),
    );
    task.events.on(
      'shard:start',
      (s) =>
        void this.event(id, 'shard-start', `${s.shardId}: ${s.mode} sync from offset ${s.offset}`, {
          mode: s.mode,
          shardId: s.shardId,
        }),
    );
    task.events.on('rdb:progress', tick);
    task.events.on('stream:lag', tick);
  }

  /** The task's progress now; each call adds a sample to its rate window (publish and sampler). */
  progress(task: Task): Progress {
    const m = task.metrics();
    const keys = m.reduce((n, s) => n + s.keys, 0);
    const commands = m.reduce((n, s) => n + s.commands, 0);
    const total = m.reduce((n, s) => n + (s.keysTotal ?? 0), 0);
    const streaming = m.length > 0 && m.every((s) => s.phase === 'streaming');
    let rates = this.rates.get(task.id);
    if (!rates) {
      rates = new RateWindow();
      this.rates.set(task.id, rates);
    }
    const ended = task.state === 'succeeded' || task.state === 'stopped' || task.state === 'failed';
    const measured = rates.add(Date.now(), keys, commands);
    // a task that ended moves nothing: its last window's rates would be a stale claim
    const { keysPerSec, commandsPerSec } = ended ? { keysPerSec: 0, commandsPerSec: 0 } : measured;
    const lagMs = m.some((s) => s.lagMs !== undefined) ? Math.max(...m.map((s) => s.lagMs ?? 0)) : undefined;
    const order: Phase[] = ['connecting', 'waiting_bgsave', 'snapshot', 'incremental', 'done'];
    const phase: Phase =
      task.state === 'succeeded'
        ? 'done'
        : m.length === 0 || ended
          ? 'idle'
          : m.map((s) => phaseOf(s.phase)).reduce((a, b) => (order.indexOf(b) < order.indexOf(a) ? b : a));
    const snapshotting = !streaming && m.some((s) => s.phase === 'snapshot');
    return {
      taskId: task.id,
      state: task.state,
      phase,
      percent:
        streaming || task.state === 'succeeded' ? 100 : total > 0 ? Math.min(99.9, (keys / total) * 100) : 0,
      keysLoaded: keys,
      keysTotal: total,
      etaSeconds:
        snapshotting && total > keys && keysPerSec > 0 ? Math.round((total - keys) / keysPerSec) : null,
      keysPerSec,
      commandsPerSec,
      lagBytes: task.lagBytes(),
      lagSeconds: lagMs !== undefined && lagMs > 0 ? lagMs / 1000 : this.secondsBehind(task.id),
      at: new Date(),
    };
  }

  /** Can the gateway reach this endpoint and log in? (PING, and the server version when INFO answers.) */
  async testConnectivity(e: Endpoint): Promise<{
    ok: boolean;
    message: string;
    rttMs: number | null;
    version: string | null;
    server: string | null;
  }> {
    const t0 = performance.now();
    try {
      const conn = await connect({ ...e, connectTimeoutMs: 5000, commandTimeoutMs: 5000 });
      try {
        await conn.send(['PING']);
        const rttMs = Math.round((performance.now() - t0) * 100) / 100;
        const info = await conn.send(['INFO', 'server']).then(String, () => '');
        // the product and its own version (a Valkey says redis_version:7.2.4 whatever it is)
        const id = /redis_version:/.test(info) ? serverIdentity(info) : undefined;
        return {
          ok: true,
          message: `${endpointName(e)} reachable and authenticated${id ? ` (${id.label})` : ''}`,
          rttMs,
          version: id?.version ?? null,
          server: id?.label ?? null,
        };
      } finally {
        conn.destroy();
      }
    } catch (err) {
      return {
        ok: false,
        message: `${endpointName(e)}: ${(err as Error).message}${isFerryError(err) ? ` [${err.code}]` : ''}`,
        rttMs: null,
        version: null,
        server: null,
      };
    }
  }

  plugins(): Array<{ kind: string; name: string; version: string; id: string }> {
    const r = this.engine.registry;
    return [
      ...r
        .sourceTopologies()
        .map((p) => ({ kind: p.kind, name: p.meta.name, version: p.meta.version, id: p.topology })),
      ...r.checks().map((c) => ({ kind: c.kind, name: c.meta.name, version: c.meta.version, id: c.id })),
      ...r.transforms().map((t) => ({ kind: t.kind, name: t.meta.name, version: t.meta.version, id: t.id })),
    ];
  }
}

export { FerryError };
