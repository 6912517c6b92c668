import {
  type DbMap,
  type Endpoint,
  type KeyPattern,
  type ProxyKind,
  TASK_OPTION_NAMES,
  type TaskOptions,
} from '@ferry/core';
import { describeOptions } from '@ferry/plugin-sdk';
import type { AlarmRuleRow, StoredTask, VerifyRunRow } from '@ferry/storage';
import { GraphQLError } from 'graphql';
import {
  Arg,
  Ctx,
  FieldResolver,
  Float,
  ID,
  Int,
  Mutation,
  Query,
  Resolver,
  Root,
  Subscription,
} from 'type-graphql';
import {
  FerryError,
  type FerryService,
  type Progress as ProgressData,
  phaseOf,
  type CreateTaskInput as ServiceCreate,
  ServiceError,
  type TargetSpec,
} from '../service.js';
import { ownFields, sourceOptionFields, topologyField } from './source-options.js';
import {
  AlarmDeliveryView,
  AlarmRuleInput,
  AlarmRuleView,
  CheckReportView,
  ConnectivityResult,
  CreateTaskInput,
  EndpointInput,
  type EndpointView,
  EventPage,
  EventView,
  MetricPoint,
  PageInput,
  PluginView,
  Progress,
  ShardView,
  type SourceInput,
  SourceTopologyView,
  type TargetInput,
  TaskAction,
  TaskFilter,
  type TaskOptionsInput,
  type TaskOptionsView,
  TaskPage,
  TaskView,
  UpdateTaskInput,
  VerifyRunView,
} from './types.js';

export interface Context {
  service: FerryService;
}

/** Errors with a stable `extensions.code` (NOT_FOUND, ACTION_NOT_ALLOWED, BAD_INPUT, PRECHECK_REQUIRED, LAGGING). */
async function guard<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof ServiceError) throw new GraphQLError(err.message, { extensions: { code: err.code } });
    if (err instanceof GraphQLError) throw err;
    const code = (err as { code?: string }).code === 'CONFIG_INVALID' ? 'BAD_INPUT' : 'INTERNAL';
    throw new GraphQLError((err as Error).message, { extensions: { code } });
  }
}

function endpoint(e: EndpointInput): Endpoint {
  if (!e.host?.trim()) throw new ServiceError('BAD_INPUT', 'an endpoint needs a host');
  if (!Number.isInteger(e.port) || e.port < 1 || e.port > 65535)
    throw new ServiceError('BAD_INPUT', `endpoint ${e.host}: port ${e.port} is not 1–65535`);
  return {
    host: e.host.trim(),
    port: e.port,
    ...(e.username ? { username: e.username } : {}),
    ...(e.password ? { password: e.password } : {}),
    ...(e.tls ? { tls: true } : {}),
  };
}

function sourceOf(s: SourceInput): ServiceCreate['source'] {
  const options: Record<string, unknown> = {};
  if (s.nodes?.length) options.nodes = s.nodes.map(endpoint);
  if (s.files?.length) options.files = s.files;
  if (s.aof) options.aof = s.aof;
  if (s.nutcrackerConfig) options.configText = s.nutcrackerConfig;
  if (s.pool) options.pool = s.pool;
  if (s.codisDashboard) options.dashboard = s.codisDashboard;
  if (s.preferReplica !== undefined && s.preferReplica !== null) options.preferReplica = s.preferReplica;
  if (s.password) {
    if (s.topology === 'twemproxy' || s.topology === 'codis') options.password = s.password;
    else if (Array.isArray(options.nodes))
      options.nodes = (options.nodes as Endpoint[]).map((n) =>
        n.password ? n : { ...n, password: s.password },
      );
  }
  if (s.topology === 'codis' && Array.isArray(options.nodes)) options.nodes = options.nodes as Endpoint[];
  for (const [name, given] of Object.entries(s.options ?? {})) {
    if (given === null || given === undefined) continue;
    const known = sourceOptionFields().get(name);
    if (known?.topology !== s.topology)
      throw new FerryError(
        'CONFIG_INVALID',
        `options.${name} is for a ${known?.topology ?? name} source; this source's topology is ${s.topology}`,
      );
    for (const f of known.fields) {
      const v = (given as Record<string, unknown>)[f.name];
      if (v !== undefined && v !== null) options[f.name] = v;
    }
  }
  return { topology: s.topology, options };
}

function targetOf(t: TargetInput): TargetSpec {
  if (t.proxy && t.proxy !== 'twemproxy' && t.proxy !== 'codis')
    throw new ServiceError('BAD_INPUT', `target proxy must be twemproxy or codis; got "${t.proxy}"`);
  return {
    endpoint: endpoint(t.endpoint),
    ...(t.cluster ? { cluster: true } : {}),
    ...(t.proxy ? { proxy: t.proxy as ProxyKind } : {}),
    ...(t.version ? { version: t.version } : {}),
  };
}

function pattern(p: { prefix?: string; glob?: string; regex?: string }, where: string): KeyPattern {
  const given = (['prefix', 'glob', 'regex'] as const).filter((k) => p[k] !== undefined && p[k] !== null);
  if (given.length !== 1)
    throw new ServiceError('BAD_INPUT', `${where}: give exactly one of prefix, glob or regex`);
  const k = given[0] as 'prefix';
  return { [k]: p[k] as string } as KeyPattern;
}

/** The options the API reshapes (entries, patterns, a pair of rates); the rest are the same in both. */
type Reshaped = 'dbMap' | 'filter' | 'rateLimit';
const RESHAPED: ReadonlySet<string> = new Set<Reshaped>(['dbMap', 'filter', 'rateLimit']);
const PLAIN_OPTIONS = TASK_OPTION_NAMES.filter(
  (k): k is Exclude<(typeof TASK_OPTION_NAMES)[number], Reshaped> => !RESHAPED.has(k),
);

/** The typed input as the engine's options (the engine validates the values themselves). */
export function optionsOf(o: TaskOptionsInput | undefined | null): TaskOptions {
  if (!o) return {};
  const out: TaskOptions = {};
  if (o.dbMap) {
    const map: DbMap = {};
    for (const e of o.dbMap) {
      const src = e.source.trim();
      if (src !== '*' && !/^\d+$/.test(src))
        throw new ServiceError('BAD_INPUT', `db map: source "${e.source}" is not a db number or *`);
      const key = src === '*' ? '*' : Number(src);
      if (map[key]) throw new ServiceError('BAD_INPUT', `db map: source db ${src} is mapped twice`);
      map[key] = { db: e.db, ...(e.prefix ? { prefix: e.prefix } : {}) };
    }
    out.dbMap = map;
  }
  if (o.filter)
    out.filter = {
      ...(o.filter.include ? { include: o.filter.include.map((p) => pattern(p, 'filter include')) } : {}),
      ...(o.filter.exclude ? { exclude: o.filter.exclude.map((p) => pattern(p, 'filter exclude')) } : {}),
    };
  if (o.rateLimit)
    out.rateLimit = {
      ...(o.rateLimit.keysPerSec != null ? { keysPerSec: o.rateLimit.keysPerSec } : {}),
      ...(o.rateLimit.bytesPerSec != null ? { bytesPerSec: o.rateLimit.bytesPerSec } : {}),
    };
  for (const k of PLAIN_OPTIONS)
    if (o[k] !== undefined && o[k] !== null) (out as Record<string, unknown>)[k] = o[k];
  return out;
}

/** The engine's options as the API shows them. */
export function optionsView(o: TaskOptions): TaskOptionsView {
  const v: TaskOptionsView = {};
  if (o.dbMap)
    v.dbMap = Object.entries(o.dbMap).map(([source, t]) => ({
      source,
      db: t?.db ?? 0,
      ...(t?.prefix ? { prefix: t.prefix } : {}),
    }));
  if (o.filter) v.filter = { include: o.filter.include ?? [], exclude: o.filter.exclude ?? [] };
  if (o.rateLimit)
    v.rateLimit = { keysPerSec: o.rateLimit.keysPerSec ?? 0, bytesPerSec: o.rateLimit.bytesPerSec ?? 0 };
  for (const k of PLAIN_OPTIONS) if (o[k] !== undefined) (v as Record<string, unknown>)[k] = o[k];
  return v;
}

function view(e: Endpoint): EndpointView {
  return {
    host: e.host,
    port: e.port,
    ...(e.username ? { username: e.username } : {}),
    hasPassword: Boolean(e.password),
  };
}

/** A stored task as the API shows it; the row rides along (not a field) for the field resolvers. */
export function toView(service: FerryService, t: StoredTask): TaskView & { row: StoredTask } {
  const v = service.view(t);
  return {
    row: t,
    id: t.id,
    name: t.name,
    tags: t.tags,
    source: { topology: v.source.topology, nodes: v.source.nodes.map(view), detail: v.source.detail },
    target: {
      endpoint: view(v.target.endpoint),
      cluster: Boolean(v.target.cluster),
      ...(v.target.proxy ? { proxy: v.target.proxy } : {}),
    },
    options: optionsView(t.options as TaskOptions),
    runningMode: t.runningMode,
    ...(t.scheduledAt ? { scheduledAt: t.scheduledAt } : {}),
    status: service.state(t),
    warningsAcknowledged: t.warningsAcknowledged,
    ...(t.error ? { error: t.error } : {}),
    createdAt: t.createdAt,
    updatedAt: t.updatedAt,
  };
}

type Viewed = TaskView & { row: StoredTask };

function runView(r: VerifyRunRow): VerifyRunView {
  return {
    id: String(r.id),
    mode: r.mode,
    status: r.status,
    rounds: r.rounds,
    keysChecked: r.keysChecked,
    differences: r.differences,
    counts: r.counts,
    perRound: r.perRound,
    details: r.details,
    ...(r.error ? { error: r.error } : {}),
    startedAt: r.startedAt,
    ...(r.finishedAt ? { finishedAt: r.finishedAt } : {}),
  };
}

@Resolver(() => TaskView)
export class TaskResolver {
  @Query(() => TaskPage)
  tasks(
    @Ctx() { service }: Context,
    @Arg('filter', () => TaskFilter, { nullable: true }) filter?: TaskFilter,
    @Arg('page', () => PageInput, { nullable: true }) page?: PageInput,
  ): Promise<TaskPage> {
    return guard(async () => {
      const { items, total } = await service.storage.listTasks(
        {
          ...(filter?.status ? { status: filter.status } : {}),
          ...(filter?.tag ? { tag: filter.tag } : {}),
          ...(filter?.name ? { name: filter.name } : {}),
        },
        { offset: page?.offset ?? 0, limit: Math.min(page?.limit ?? 50, 500) },
      );
      return { items: items.map((t) => toView(service, t)), total };
    });
  }

  @Query(() => TaskView)
  task(@Ctx() { service }: Context, @Arg('id', () => ID) id: string): Promise<TaskView> {
    return guard(async () => toView(service, await service.get(id)));
  }

  @Query(() => [PluginView])
  plugins(@Ctx() { service }: Context): PluginView[] {
    return service.plugins();
  }

  @Query(() => [SourceTopologyView], {
    description: "The source topologies and each one's own options (what the console's form asks for).",
  })
  sourceTopologies(@Ctx() { service }: Context): SourceTopologyView[] {
    return service.engine.registry.sourceTopologies().map((p) => {
      const all = p.options ? describeOptions(p.options, p.topology) : [];
      const own = ownFields(all);
      return {
        topology: p.topology,
        plugin: p.meta.name,
        ...(own.length > 0 ? { optionsField: topologyField(p.topology) } : {}),
        takesNodes: !p.options || all.some((f) => f.role === 'nodes'),
        options: own.map((f) => ({
          name: f.name,
          type: f.type,
          description: f.description,
          required: f.required,
          ...(f.enum ? { enum: f.enum } : {}),
          ...(f.default !== undefined ? { default: JSON.stringify(f.default) } : {}),
          secret: Boolean(f.secret),
          path: Boolean(f.path),
          ...(f.placeholder ? { placeholder: f.placeholder } : {}),
        })),
      };
    });
  }

  @FieldResolver(() => [TaskAction], { description: 'Exactly what may be done now.' })
  allowedActions(@Root() t: Viewed, @Ctx() { service }: Context): Promise<string[]> {
    return service.allowedActions(t.row);
  }

  @FieldResolver(() => [ShardView])
  async shards(@Root() t: Viewed, @Ctx() { service }: Context): Promise<ShardView[]> {
    const live = service.live_(t.id)?.metrics() ?? [];
    const rows = await service.storage.shards(t.id);
    const ids = new Set([...live.map((m) => m.shardId), ...rows.map((r) => r.shardId)]);
    return [...ids].sort().map((shardId) => {
      const m = live.find((x) => x.shardId === shardId);
      const r = rows.find((x) => x.shardId === shardId);
      const c = (m ?? r?.counters ?? {}) as Record<string, unknown>;
      return {
        shardId,
        phase: phaseOf(String(c.phase ?? r?.phase ?? '')),
        replid: r?.replid ?? '',
        appliedOffset: Number(c.appliedOffset ?? r?.offset ?? 0),
        keys: Number(c.keys ?? 0),
        commands: Number(c.commands ?? 0),
        lagBytes: Number(c.lagBytes ?? 0),
        counters: c,
      };
    });
  }

  @FieldResolver(() => CheckReportView, { nullable: true })
  async checkReport(@Root() t: Viewed, @Ctx() { service }: Context): Promise<CheckReportView | null> {
    const last = await service.storage.lastCheckReport(t.id);
    if (!last) return null;
    return {
      status: last.report.status,
      durationMs: last.report.durationMs,
      at: last.report.createdAt,
      results: last.results.map((r) => ({
        checkId: r.checkId,
        status: r.status,
        message: r.message,
        ...(r.advice ? { advice: r.advice } : {}),
        ...(r.shardId ? { shardId: r.shardId } : {}),
      })),
    };
  }

  @FieldResolver(() => EventPage)
  async events(
    @Root() t: Viewed,
    @Ctx() { service }: Context,
    @Arg('page', () => PageInput, { nullable: true }) page?: PageInput,
    @Arg('newestFirst', () => Boolean, { nullable: true, description: 'Default: oldest first.' })
    newestFirst?: boolean,
  ): Promise<EventPage> {
    const { items, total } = await service.storage.events(
      t.id,
      { offset: page?.offset ?? 0, limit: Math.min(page?.limit ?? 100, 1000) },
      Boolean(newestFirst),
    );
    return {
      items: items.map((e) => ({
        id: String(e.id),
        at: e.at,
        kind: e.kind,
        message: e.message,
        ...(e.data ? { data: e.data } : {}),
      })),
      total,
    };
  }

  @FieldResolver(() => [MetricPoint])
  async metrics(
    @Root() t: Viewed,
    @Ctx() { service }: Context,
    @Arg('from', () => Date, { nullable: true }) from?: Date,
    @Arg('to', () => Date, { nullable: true }) to?: Date,
    @Arg('step', () => Int, {
      nullable: true,
      description: 'Seconds per point (the last sample of each step).',
    })
    step?: number,
  ): Promise<MetricPoint[]> {
    const rows = await service.storage.metrics(
      t.id,
      from ?? new Date(Date.now() - 3600_000),
      to ?? new Date(),
    );
    const every = Math.max(1, step ?? 1) * 1000;
    const out = new Map<number, MetricPoint>();
    for (const r of rows)
      out.set(Math.floor(r.at.getTime() / every), {
        at: r.at,
        state: r.phase,
        keys: r.keys,
        commands: r.commands,
        lagBytes: r.lagBytes,
        ...(r.lagMs !== null ? { lagSeconds: r.lagMs / 1000 } : {}),
      });
    return [...out.values()];
  }

  @FieldResolver(() => [VerifyRunView])
  async verifications(@Root() t: Viewed, @Ctx() { service }: Context): Promise<VerifyRunView[]> {
    return (await service.storage.verifyRuns(t.id)).map(runView);
  }

  @Mutation(() => VerifyRunView, {
    description:
      'Starts a verification (while streaming or after); poll task.verifications or follow taskEvents.',
  })
  verifyTask(
    @Ctx() { service }: Context,
    @Arg('taskId', () => ID) taskId: string,
    @Arg('mode', () => String, { nullable: true, description: 'outline | length | full (default)' })
    mode?: string,
    @Arg('rounds', () => Int, { nullable: true }) rounds?: number,
    @Arg('sample', () => Float, { nullable: true }) sample?: number,
    @Arg('keysPerSec', () => Float, { nullable: true }) keysPerSec?: number,
  ): Promise<VerifyRunView> {
    return guard(async () =>
      runView(
        await service.verify(taskId, {
          mode: (mode ?? 'full') as 'full',
          rounds: rounds ?? 3,
          ...(sample ? { sample } : {}),
          ...(keysPerSec ? { keysPerSec } : {}),
        }),
      ),
    );
  }

  @FieldResolver(() => Float)
  lagBytes(@Root() t: Viewed, @Ctx() { service }: Context): number {
    return service.live_(t.id)?.lagBytes() ?? 0;
  }

  @FieldResolver(() => Progress, {
    nullable: true,
    description: 'What taskProgress would send now, for a task this gateway runs (null otherwise).',
  })
  progress(@Root() t: Viewed, @Ctx() { service }: Context): Progress | null {
    const task = service.live_(t.id);
    if (!task) return null;
    return progressView(service.progress(task));
  }

  // ---------------------------------------------------------------- mutations

  @Mutation(() => TaskView)
  createTask(
    @Ctx() { service }: Context,
    @Arg('input', () => CreateTaskInput) input: CreateTaskInput,
  ): Promise<TaskView> {
    return guard(async () => {
      const t = await service.create({
        name: input.name,
        tags: input.tags ?? [],
        source: sourceOf(input.source),
        target: targetOf(input.target),
        options: optionsOf(input.options),
        ...(input.scheduledAt ? { scheduledAt: input.scheduledAt } : {}),
      });
      return toView(service, t);
    });
  }

  @Mutation(() => TaskView)
  updateTask(
    @Ctx() { service }: Context,
    @Arg('id', () => ID) id: string,
    @Arg('input', () => UpdateTaskInput) input: UpdateTaskInput,
  ): Promise<TaskView> {
    return guard(async () =>
      toView(
        service,
        await service.update(id, {
          ...(input.name ? { name: input.name } : {}),
          ...(input.tags ? { tags: input.tags } : {}),
          ...(input.source ? { source: sourceOf(input.source) } : {}),
          ...(input.target ? { target: targetOf(input.target) } : {}),
          ...(input.options ? { options: optionsOf(input.options) } : {}),
        }),
      ),
    );
  }

  @Mutation(() => ConnectivityResult)
  testConnectivity(
    @Ctx() { service }: Context,
    @Arg('endpoint', () => EndpointInput) e: EndpointInput,
  ): Promise<ConnectivityResult> {
    return guard(async () => {
      const r = await service.testConnectivity(endpoint(e));
      return {
        ok: r.ok,
        message: r.message,
        ...(r.rttMs !== null ? { rttMs: r.rttMs } : {}),
        ...(r.version ? { version: r.version } : {}),
      };
    });
  }

  @Mutation(() => CheckReportView)
  runPrecheck(
    @Ctx() { service }: Context,
    @Arg('taskId', () => ID) taskId: string,
  ): Promise<CheckReportView> {
    return guard(async () => {
      const { report } = await service.precheck(taskId);
      return {
        status: report.status,
        durationMs: report.durationMs,
        at: new Date(report.startedAt),
        results: report.results.map((r) => ({
          checkId: r.checkId,
          status: r.status,
          message: r.message,
          ...(r.advice ? { advice: r.advice } : {}),
          ...(r.shardId ? { shardId: r.shardId } : {}),
        })),
      };
    });
  }

  @Mutation(() => TaskView)
  acknowledgeWarnings(
    @Ctx() { service }: Context,
    @Arg('taskId', () => ID) taskId: string,
  ): Promise<TaskView> {
    return guard(async () => toView(service, await service.acknowledge(taskId)));
  }

  @Mutation(() => TaskView)
  startTask(@Ctx() { service }: Context, @Arg('taskId', () => ID) taskId: string): Promise<TaskView> {
    return guard(async () => toView(service, await service.start(taskId)));
  }

  @Mutation(() => TaskView)
  scheduleTask(
    @Ctx() { service }: Context,
    @Arg('taskId', () => ID) taskId: string,
    @Arg('at', () => Date) at: Date,
  ): Promise<TaskView> {
    return guard(async () => toView(service, await service.schedule(taskId, at)));
  }

  @Mutation(() => TaskView)
  pauseTask(@Ctx() { service }: Context, @Arg('taskId', () => ID) taskId: string): Promise<TaskView> {
    return guard(async () => toView(service, await service.pause(taskId)));
  }

  @Mutation(() => TaskView)
  resumeTask(@Ctx() { service }: Context, @Arg('taskId', () => ID) taskId: string): Promise<TaskView> {
    return guard(async () => toView(service, await service.resume(taskId)));
  }

  @Mutation(() => TaskView)
  stopTask(@Ctx() { service }: Context, @Arg('taskId', () => ID) taskId: string): Promise<TaskView> {
    return guard(async () => toView(service, await service.stop(taskId)));
  }

  @Mutation(() => TaskView)
  completeTask(
    @Ctx() { service }: Context,
    @Arg('taskId', () => ID) taskId: string,
    @Arg('force', () => Boolean, { nullable: true }) force?: boolean,
  ): Promise<TaskView> {
    return guard(async () => toView(service, await service.complete(taskId, Boolean(force))));
  }

  @Mutation(() => TaskView)
  retryTask(@Ctx() { service }: Context, @Arg('taskId', () => ID) taskId: string): Promise<TaskView> {
    return guard(async () => toView(service, await service.retry(taskId)));
  }

  @Mutation(() => TaskView, {
    description:
      'Starts a stopped or failed task over: its checkpoint is dropped (a resume under changed settings is refused), and the target must pass the conflict policy again',
  })
  restartTask(@Ctx() { service }: Context, @Arg('taskId', () => ID) taskId: string): Promise<TaskView> {
    return guard(async () => toView(service, await service.retry(taskId, { fresh: true })));
  }

  @Mutation(() => TaskView)
  cloneTask(
    @Ctx() { service }: Context,
    @Arg('taskId', () => ID) taskId: string,
    @Arg('name', () => String, { nullable: true }) name?: string,
  ): Promise<TaskView> {
    return guard(async () => toView(service, await service.clone(taskId, name ?? undefined)));
  }

  @Mutation(() => Boolean)
  deleteTask(@Ctx() { service }: Context, @Arg('taskId', () => ID) taskId: string): Promise<boolean> {
    return guard(() => service.remove(taskId));
  }

  @Mutation(() => TaskView)
  setRateLimit(
    @Ctx() { service }: Context,
    @Arg('taskId', () => ID) taskId: string,
    @Arg('keysPerSec', () => Float, { nullable: true }) keysPerSec?: number,
    @Arg('bytesPerSec', () => Float, { nullable: true }) bytesPerSec?: number,
  ): Promise<TaskView> {
    return guard(async () =>
      toView(
        service,
        await service.setRateLimit(taskId, { keysPerSec: keysPerSec ?? 0, bytesPerSec: bytesPerSec ?? 0 }),
      ),
    );
  }

  @Mutation(() => AlarmRuleView)
  createAlarmRule(
    @Ctx() { service }: Context,
    @Arg('input', () => AlarmRuleInput) input: AlarmRuleInput,
  ): Promise<AlarmRuleView> {
    return guard(async () => {
      let url: URL;
      try {
        url = new URL(input.webhook);
      } catch {
        throw new ServiceError('BAD_INPUT', 'the webhook must be an http(s) URL');
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:')
        throw new ServiceError('BAD_INPUT', 'the webhook must be an http(s) URL');
      if (input.taskId) await service.get(input.taskId);
      const r = await service.storage.addAlarmRule({
        taskId: input.taskId ?? null,
        kind: input.kind as 'lag',
        threshold: input.threshold ?? 0,
        forSeconds: input.forSeconds ?? 0,
        webhook: service.storage.seal(input.webhook),
      });
      service.onAlarmRule();
      return ruleView(service, r);
    });
  }

  @Query(() => [AlarmRuleView], {
    description: 'Alarm rules, of one task (and those for every task) or all.',
  })
  alarmRules(
    @Ctx() { service }: Context,
    @Arg('taskId', () => ID, { nullable: true }) taskId?: string,
  ): Promise<AlarmRuleView[]> {
    return guard(async () =>
      (await service.storage.alarmRules())
        .filter((r) => !taskId || r.taskId === null || r.taskId === taskId)
        .map((r) => ruleView(service, r)),
    );
  }

  @Mutation(() => Boolean, { description: 'Deletes an alarm rule and its deliveries.' })
  deleteAlarmRule(@Ctx() { service }: Context, @Arg('id', () => ID) id: string): Promise<boolean> {
    return guard(async () => {
      if (!(await service.storage.deleteAlarmRule(Number(id))))
        throw new ServiceError('NOT_FOUND', `no alarm rule ${JSON.stringify(id)}`);
      service.onAlarmRule();
      return true;
    });
  }

  @Query(() => [AlarmDeliveryView], { description: 'Alarms sent, newest first (at most 100).' })
  alarmDeliveries(
    @Ctx() { service }: Context,
    @Arg('ruleId', () => ID, { nullable: true }) ruleId?: string,
    @Arg('taskId', () => ID, { nullable: true }) taskId?: string,
  ): Promise<AlarmDeliveryView[]> {
    return guard(async () =>
      (
        await service.storage.alarmDeliveries({
          ...(ruleId ? { ruleId: Number(ruleId) } : {}),
          ...(taskId ? { taskId } : {}),
        })
      ).map((d) => ({
        id: String(d.id),
        ruleId: String(d.ruleId),
        taskId: d.taskId,
        state: d.state,
        attempts: d.attempts,
        delivered: d.delivered,
        ...(d.lastError ? { lastError: d.lastError } : {}),
        at: d.at,
      })),
    );
  }
}

function ruleView(service: FerryService, r: AlarmRuleRow): AlarmRuleView {
  let webhookHost = '';
  try {
    webhookHost = new URL(service.storage.unseal<string>(r.webhook)).host;
  } catch {
    webhookHost = '(unreadable)';
  }
  return {
    id: String(r.id),
    ...(r.taskId ? { taskId: r.taskId } : {}),
    kind: r.kind,
    threshold: r.threshold,
    forSeconds: r.forSeconds,
    webhookHost,
    createdAt: r.createdAt,
  };
}

/** Live progress and events over graphql-ws. */
@Resolver()
export class LiveResolver {
  @Subscription(() => Progress, {
    description: 'At most a few updates a second per task: phase, percent, keys/s, lag in bytes and seconds.',
    subscribe: ({ args, context }) =>
      listenTask<ProgressData>((context as Context).service, (args as { taskId: string }).taskId, 'progress'),
  })
  taskProgress(@Root() p: ProgressData, @Arg('taskId', () => ID) _taskId: string): Progress {
    return progressView(p);
  }

  @Subscription(() => EventView, {
    subscribe: ({ args, context }) =>
      listenTask((context as Context).service, (args as { taskId: string }).taskId, 'event'),
  })
  taskEvents(
    @Root() e: { id: number; at: Date; kind: string; message: string; data: Record<string, unknown> | null },
    @Arg('taskId', () => ID) _taskId: string,
  ): EventView {
    return {
      id: String(e.id),
      at: e.at,
      kind: e.kind,
      message: e.message,
      ...(e.data ? { data: e.data } : {}),
    };
  }
}

/** The service's progress as the API's (one shape for the subscription and TaskView.progress). */
function progressView(p: ProgressData): Progress {
  return { ...p, lagSeconds: p.lagSeconds ?? undefined, etaSeconds: p.etaSeconds ?? undefined } as Progress;
}

/** A task's progress or events; a task that does not exist is a NOT_FOUND error, not a silence. */
async function listenTask<T>(
  service: FerryService,
  taskId: string,
  what: 'progress' | 'event',
): Promise<AsyncIterableIterator<T>> {
  // listening first: nothing published between the lookup and the subscription is lost
  const it = listen<T>(service, `${what}:${taskId}`);
  try {
    await service.get(taskId);
  } catch (err) {
    await it.return?.();
    if (err instanceof ServiceError) throw new GraphQLError(err.message, { extensions: { code: err.code } });
    throw err;
  }
  return it;
}

/** The service bus's `name` events as an async iterator, bounded (a slow subscriber gets the latest 100). */
function listen<T>(service: FerryService, name: string): AsyncIterableIterator<T> {
  const queue: T[] = [];
  let wake: (() => void) | undefined;
  let done = false;
  const on = (v: T): void => {
    queue.push(v);
    if (queue.length > 100) queue.shift();
    wake?.();
  };
  service.bus.on(name, on);
  const stop = (): void => {
    done = true;
    service.bus.off(name, on);
    wake?.();
  };
  const it: AsyncIterableIterator<T> = {
    [Symbol.asyncIterator]: () => it,
    async next(): Promise<IteratorResult<T>> {
      while (!done && queue.length === 0) await new Promise<void>((r) => (wake = r));
      wake = undefined;
      if (done) return { done: true, value: undefined };
      return { done: false, value: queue.shift() as T };
    },
    async return(): Promise<IteratorResult<T>> {
      stop();
      return { done: true, value: undefined };
    },
  };
  return it;
}
