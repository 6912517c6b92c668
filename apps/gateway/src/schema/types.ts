import { GraphQLJSONObject } from 'graphql-scalars';
import { Field, Float, ID, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';
import { sourceOptionsInput } from './source-options.js';

// ------------------------------------------------------------------ enums
// Their values are the engine's own words (lower case), so a client compares what it reads in
// events and logs with what the schema names.

const values = <T extends string>(...v: T[]): { [K in T]: K } =>
  Object.fromEntries(v.map((x) => [x, x])) as { [K in T]: K };

export const TaskStatus = values(
  'created',
  'checking',
  'check_passed',
  'check_failed',
  'scheduled',
  'preparing',
  'full_sync',
  'incremental_sync',
  'paused',
  'completing',
  'succeeded',
  'stopping',
  'stopped',
  'failed',
  'retrying',
);
export type TaskStatus = keyof typeof TaskStatus;
registerEnumType(TaskStatus, { name: 'TaskStatus', description: "A task's state." });

export const Phase = values('idle', 'connecting', 'waiting_bgsave', 'snapshot', 'incremental', 'done');
export type Phase = keyof typeof Phase;
registerEnumType(Phase, {
  name: 'Phase',
  description:
    'Where the data is: idle (no replication link), connecting, waiting_bgsave (the source makes its snapshot), snapshot (loading it), incremental (replaying the live stream), done.',
});

export const TaskAction = values(
  'precheck',
  'acknowledgeWarnings',
  'start',
  'schedule',
  'pause',
  'resume',
  'stop',
  'complete',
  'retry',
  'clone',
  'delete',
  'update',
  'setRateLimit',
);
export type TaskAction = keyof typeof TaskAction;
registerEnumType(TaskAction, {
  name: 'TaskAction',
  description: 'What the user may do with a task now (each is a mutation of the same name + Task).',
});

export const CheckStatus = values('pass', 'warn', 'fail');
export type CheckStatus = keyof typeof CheckStatus;
registerEnumType(CheckStatus, { name: 'CheckStatus' });

export const WriteMode = values('auto', 'restore', 'rewrite');
registerEnumType(WriteMode, {
  name: 'WriteMode',
  description: 'auto: RESTORE where the versions allow it, else rewrite by commands.',
});
export const ConflictPolicy = values('fail', 'replace', 'skip');
registerEnumType(ConflictPolicy, {
  name: 'ConflictPolicy',
  description: 'A key that already exists on the target: fail the task, replace it, or skip it.',
});
export const SnapshotThreads = values('auto', 'always', 'never');
registerEnumType(SnapshotThreads, { name: 'SnapshotThreads' });
export const ImportMode = values('auto', 'on', 'off');
registerEnumType(ImportMode, {
  name: 'ImportMode',
  description:
    "Valkey 8.1+ targets' import mode (no expiry, no eviction while keys arrive): auto turns it on for the run where allowed, on requires it, off never.",
});
export const AlarmKind = { task_failed: 'task-failed', lag: 'lag', snapshot_duration: 'snapshot-duration' };
registerEnumType(AlarmKind, { name: 'AlarmKind' });

// ------------------------------------------------------------------ task options (typed)

@InputType({ description: 'Exactly one of prefix, glob (`*`, `?`, `[…]`) or regex.' })
export class KeyPatternInput {
  @Field(() => String, { nullable: true })
  prefix?: string;
  @Field(() => String, { nullable: true })
  glob?: string;
  @Field(() => String, { nullable: true })
  regex?: string;
}

@InputType({
  description: 'A key is migrated when it matches an include (or there are none) and no exclude.',
})
export class KeyFilterInput {
  @Field(() => [KeyPatternInput], { nullable: true })
  include?: KeyPatternInput[];
  @Field(() => [KeyPatternInput], { nullable: true })
  exclude?: KeyPatternInput[];
}

@InputType({ description: 'Where a source db goes: a target db and an optional prefix on every key.' })
export class DbMapEntryInput {
  @Field(() => String, { description: 'A source db number, or `*` for every db not listed.' })
  source!: string;
  @Field(() => Int)
  db!: number;
  @Field(() => String, { nullable: true })
  prefix?: string;
}

@InputType()
export class RateLimitInput {
  @Field(() => Float, {
    nullable: true,
    description: 'Keys (snapshot) or commands (stream) per second; 0: none.',
  })
  keysPerSec?: number;
  @Field(() => Float, { nullable: true, description: 'Bytes written to the target per second; 0: none.' })
  bytesPerSec?: number;
}

@InputType({ description: "The task's options, as in the engine; each absent one has its default." })
export class TaskOptionsInput {
  @Field(() => [DbMapEntryInput], { nullable: true, description: 'Absent: every db to the same number.' })
  dbMap?: DbMapEntryInput[];
  @Field(() => KeyFilterInput, { nullable: true })
  filter?: KeyFilterInput;
  @Field(() => String, { nullable: true, description: 'Added in front of every key on the target.' })
  renamePrefix?: string;
  @Field(() => RateLimitInput, { nullable: true })
  rateLimit?: RateLimitInput;
  @Field(() => WriteMode, { nullable: true })
  writeMode?: keyof typeof WriteMode;
  @Field(() => ConflictPolicy, { nullable: true })
  conflict?: keyof typeof ConflictPolicy;
  @Field(() => Float, { nullable: true, description: 'Bytes: bigger values are written in chunks (16 MB).' })
  bigKeyThreshold?: number;
  @Field(() => Int, { nullable: true, description: 'Commands in flight per target node (2048).' })
  maxInFlight?: number;
  @Field(() => Float, {
    nullable: true,
    description:
      'Bytes of values written and not yet acknowledged, per shard (32 MB): the memory budget of the write window.',
  })
  maxInFlightBytes?: number;
  @Field(() => Boolean, {
    nullable: true,
    description: 'Measure lag in seconds with a heartbeat key on the source (needs write access).',
  })
  sourceHeartbeat?: boolean;
  @Field(() => SnapshotThreads, { nullable: true })
  snapshotThreads?: keyof typeof SnapshotThreads;
  @Field(() => ImportMode, { nullable: true })
  targetImportMode?: keyof typeof ImportMode;
  @Field(() => String, { nullable: true, description: "The prefix of Ferry's own keys (`__ferry:`)." })
  reservedPrefix?: string;
  @Field(() => [String], {
    nullable: true,
    description:
      'Key transforms (plugins, by id; see `plugins`) applied in order to every key: rename or drop.',
  })
  transforms?: string[];
}

@ObjectType()
export class KeyPatternView {
  @Field(() => String, { nullable: true })
  prefix?: string;
  @Field(() => String, { nullable: true })
  glob?: string;
  @Field(() => String, { nullable: true })
  regex?: string;
}

@ObjectType()
export class KeyFilterView {
  @Field(() => [KeyPatternView])
  include!: KeyPatternView[];
  @Field(() => [KeyPatternView])
  exclude!: KeyPatternView[];
}

@ObjectType()
export class DbMapEntryView {
  @Field(() => String)
  source!: string;
  @Field(() => Int)
  db!: number;
  @Field(() => String, { nullable: true })
  prefix?: string;
}

@ObjectType()
export class RateLimitView {
  @Field(() => Float)
  keysPerSec!: number;
  @Field(() => Float)
  bytesPerSec!: number;
}

@ObjectType({ description: "The task's options as given (absent ones take the engine's defaults)." })
export class TaskOptionsView {
  @Field(() => [DbMapEntryView], { nullable: true })
  dbMap?: DbMapEntryView[];
  @Field(() => KeyFilterView, { nullable: true })
  filter?: KeyFilterView;
  @Field(() => String, { nullable: true })
  renamePrefix?: string;
  @Field(() => RateLimitView, { nullable: true })
  rateLimit?: RateLimitView;
  @Field(() => WriteMode, { nullable: true })
  writeMode?: string;
  @Field(() => ConflictPolicy, { nullable: true })
  conflict?: string;
  @Field(() => Float, { nullable: true })
  bigKeyThreshold?: number;
  @Field(() => Int, { nullable: true })
  maxInFlight?: number;
  @Field(() => Float, { nullable: true })
  maxInFlightBytes?: number;
  @Field(() => Boolean, { nullable: true })
  sourceHeartbeat?: boolean;
  @Field(() => SnapshotThreads, { nullable: true })
  snapshotThreads?: string;
  @Field(() => ImportMode, { nullable: true })
  targetImportMode?: string;
  @Field(() => String, { nullable: true })
  reservedPrefix?: string;
  @Field(() => [String], { nullable: true })
  transforms?: string[];
}

// ------------------------------------------------------------------ inputs

@InputType({ description: 'A Redis node. The password is write-only: no query returns it.' })
export class EndpointInput {
  @Field(() => String)
  host!: string;
  @Field(() => Int)
  port!: number;
  @Field(() => String, { nullable: true })
  username?: string;
  @Field(() => String, { nullable: true, description: 'Write-only: stored encrypted, never returned.' })
  password?: string;
  @Field(() => Boolean, { nullable: true })
  tls?: boolean;
}

@InputType()
export class SourceInput {
  @Field(() => String, {
    description: 'standalone | cluster | twemproxy | codis | file, or a plugin’s (see `sourceTopologies`).',
  })
  topology!: string;
  @Field(() => sourceOptionsInput(), {
    nullable: true,
    description: "The topology's own options, under its name: `{ file: { files: [...] } }`.",
  })
  options?: Record<string, Record<string, unknown> | null | undefined>;
  @Field(() => [String], {
    nullable: true,
    description: 'file: RDB files to restore, as paths on the gateway’s machine (one per shard of a backup).',
    deprecationReason: 'options.file.files',
  })
  files?: string[];
  @Field(() => String, {
    nullable: true,
    description:
      'file: an append-only file to replay instead (one AOF file, or an appendonlydir with its manifest).',
    deprecationReason: 'options.file.aof',
  })
  aof?: string;
  @Field(() => [EndpointInput], {
    nullable: true,
    description: 'Nodes: the server and replicas, cluster seeds, twemproxy backends or codis group masters.',
  })
  nodes?: EndpointInput[];
  @Field(() => String, {
    nullable: true,
    description: 'twemproxy: the nutcracker.yml content.',
    deprecationReason: 'options.twemproxy.configText',
  })
  nutcrackerConfig?: string;
  @Field(() => String, {
    nullable: true,
    description: 'twemproxy: the pool.',
    deprecationReason: 'options.twemproxy.pool',
  })
  pool?: string;
  @Field(() => String, {
    nullable: true,
    description: 'codis: the dashboard address.',
    deprecationReason: 'options.codis.dashboard',
  })
  codisDashboard?: string;
  @Field(() => String, { nullable: true, description: 'Write-only: the password of every source node.' })
  password?: string;
  @Field(() => Boolean, { nullable: true })
  preferReplica?: boolean;
}

@InputType()
export class TargetInput {
  @Field(() => EndpointInput)
  endpoint!: EndpointInput;
  @Field(() => Boolean, { nullable: true })
  cluster?: boolean;
  @Field(() => String, { nullable: true, description: 'twemproxy | codis' })
  proxy?: string;
  @Field(() => String, { nullable: true })
  version?: string;
}

@InputType()
export class CreateTaskInput {
  @Field(() => String)
  name!: string;
  @Field(() => [String], { nullable: true })
  tags?: string[];
  @Field(() => SourceInput)
  source!: SourceInput;
  @Field(() => TargetInput)
  target!: TargetInput;
  @Field(() => TaskOptionsInput, { nullable: true })
  options?: TaskOptionsInput;
  @Field(() => Date, {
    nullable: true,
    description: 'Start at this time (after a passing precheck); otherwise startTask.',
  })
  scheduledAt?: Date;
}

@InputType()
export class UpdateTaskInput {
  @Field(() => String, { nullable: true })
  name?: string;
  @Field(() => [String], { nullable: true })
  tags?: string[];
  @Field(() => SourceInput, { nullable: true })
  source?: SourceInput;
  @Field(() => TargetInput, { nullable: true })
  target?: TargetInput;
  @Field(() => TaskOptionsInput, { nullable: true })
  options?: TaskOptionsInput;
}

@InputType()
export class TaskFilter {
  @Field(() => TaskStatus, { nullable: true })
  status?: string;
  @Field(() => String, { nullable: true })
  tag?: string;
  @Field(() => String, { nullable: true })
  name?: string;
}

@InputType()
export class PageInput {
  @Field(() => Int, { nullable: true })
  offset?: number;
  @Field(() => Int, { nullable: true })
  limit?: number;
}

@InputType()
export class AlarmRuleInput {
  @Field(() => String, { nullable: true, description: 'A task, or every task when absent.' })
  taskId?: string;
  @Field(() => AlarmKind)
  kind!: string;
  @Field(() => Float, { nullable: true, description: 'lag: seconds; snapshot-duration: seconds.' })
  threshold?: number;
  @Field(() => Float, { nullable: true, description: 'lag: for how many seconds.' })
  forSeconds?: number;
  @Field(() => String, { description: 'Write-only: the webhook URL (JSON POST).' })
  webhook!: string;
}

// ------------------------------------------------------------------ outputs

@ObjectType({ description: 'A node as shown: never its password.' })
export class EndpointView {
  @Field(() => String)
  host!: string;
  @Field(() => Int)
  port!: number;
  @Field(() => String, { nullable: true })
  username?: string;
  @Field(() => Boolean)
  hasPassword!: boolean;
}

@ObjectType()
export class SourceView {
  @Field(() => String)
  topology!: string;
  @Field(() => [EndpointView])
  nodes!: EndpointView[];
  @Field(() => String)
  detail!: string;
}

@ObjectType()
export class TargetView {
  @Field(() => EndpointView)
  endpoint!: EndpointView;
  @Field(() => Boolean)
  cluster!: boolean;
  @Field(() => String, { nullable: true })
  proxy?: string;
}

@ObjectType()
export class ShardView {
  @Field(() => String)
  shardId!: string;
  @Field(() => Phase)
  phase!: string;
  @Field(() => String)
  replid!: string;
  @Field(() => Float)
  appliedOffset!: number;
  @Field(() => Float)
  keys!: number;
  @Field(() => Float)
  commands!: number;
  @Field(() => Float)
  lagBytes!: number;
  @Field(() => GraphQLJSONObject)
  counters!: Record<string, unknown>;
}

@ObjectType()
export class CheckResultView {
  @Field(() => String)
  checkId!: string;
  @Field(() => CheckStatus)
  status!: string;
  @Field(() => String)
  message!: string;
  @Field(() => String, { nullable: true })
  advice?: string;
  @Field(() => String, { nullable: true })
  shardId?: string;
}

@ObjectType()
export class CheckReportView {
  @Field(() => CheckStatus)
  status!: string;
  @Field(() => Int)
  durationMs!: number;
  @Field(() => [CheckResultView])
  results!: CheckResultView[];
  @Field(() => Date)
  at!: Date;
}

@ObjectType()
export class EventView {
  @Field(() => ID)
  id!: string;
  @Field(() => Date)
  at!: Date;
  @Field(() => String)
  kind!: string;
  @Field(() => String)
  message!: string;
  @Field(() => GraphQLJSONObject, { nullable: true })
  data?: Record<string, unknown>;
}

@ObjectType()
export class EventPage {
  @Field(() => [EventView])
  items!: EventView[];
  @Field(() => Int)
  total!: number;
}

@ObjectType()
export class MetricPoint {
  @Field(() => Date)
  at!: Date;
  @Field(() => TaskStatus, { description: "The task's state at that moment." })
  state!: string;
  @Field(() => Float)
  keys!: number;
  @Field(() => Float)
  commands!: number;
  @Field(() => Float)
  lagBytes!: number;
  @Field(() => Float, { nullable: true })
  lagSeconds?: number;
}

@ObjectType()
export class TaskView {
  @Field(() => ID)
  id!: string;
  @Field(() => String)
  name!: string;
  @Field(() => [String])
  tags!: string[];
  @Field(() => SourceView)
  source!: SourceView;
  @Field(() => TargetView)
  target!: TargetView;
  @Field(() => TaskOptionsView)
  options!: TaskOptionsView;
  @Field(() => String, { description: 'immediate | scheduled' })
  runningMode!: string;
  @Field(() => Date, { nullable: true })
  scheduledAt?: Date;
  @Field(() => TaskStatus)
  status!: string;
  @Field(() => Boolean)
  warningsAcknowledged!: boolean;
  @Field(() => String, { nullable: true })
  error?: string;
  @Field(() => Date)
  createdAt!: Date;
  @Field(() => Date)
  updatedAt!: Date;
}

@ObjectType()
export class TaskPage {
  @Field(() => [TaskView])
  items!: TaskView[];
  @Field(() => Int)
  total!: number;
}

@ObjectType()
export class Progress {
  @Field(() => ID)
  taskId!: string;
  @Field(() => TaskStatus)
  state!: string;
  @Field(() => Phase)
  phase!: string;
  @Field(() => Float, {
    description: 'Of the snapshot: keys loaded ÷ keys it holds; 100 once every shard streams.',
  })
  percent!: number;
  @Field(() => Float, { description: 'Snapshot keys loaded so far.' })
  keysLoaded!: number;
  @Field(() => Float, { description: 'Keys the snapshots hold (0 until their headers or the sources tell).' })
  keysTotal!: number;
  @Field(() => Float, {
    nullable: true,
    description: 'Seconds left of the snapshot at the rate of the last few seconds.',
  })
  etaSeconds?: number;
  @Field(() => Float, { description: 'Snapshot keys written per second (last few seconds).' })
  keysPerSec!: number;
  @Field(() => Float, { description: 'Stream commands applied per second (last few seconds).' })
  commandsPerSec!: number;
  @Field(() => Float)
  lagBytes!: number;
  @Field(() => Float, { nullable: true })
  lagSeconds?: number;
  @Field(() => Date)
  at!: Date;
}

@ObjectType()
export class ConnectivityResult {
  @Field(() => Boolean)
  ok!: boolean;
  @Field(() => String)
  message!: string;
  @Field(() => Float, { nullable: true })
  rttMs?: number;
  @Field(() => String, {
    nullable: true,
    description: "The server's own version (a Valkey's valkey_version).",
  })
  version?: string;
  @Field(() => String, { nullable: true, description: 'Which server it is: "Redis 7.0.15", "Valkey 8.0.1".' })
  server?: string;
}

@ObjectType()
export class PluginView {
  @Field(() => String)
  kind!: string;
  @Field(() => String)
  id!: string;
  @Field(() => String)
  name!: string;
  @Field(() => String)
  version!: string;
}

@ObjectType({
  description: "One option of a source topology, as a form asks for it (from the plugin's schema).",
})
export class SourceOptionView {
  @Field(() => String, { description: 'Its name under `SourceInput.options.<topology>`.' })
  name!: string;
  @Field(() => String, { description: 'string | number | integer | boolean | string-list' })
  type!: string;
  @Field(() => String)
  description!: string;
  @Field(() => Boolean)
  required!: boolean;
  @Field(() => [String], { nullable: true })
  enum?: string[];
  @Field(() => String, { nullable: true, description: 'The default, as JSON.' })
  default?: string;
  @Field(() => Boolean, { description: 'Write-only (a password).' })
  secret!: boolean;
  @Field(() => Boolean, { description: "A path on the gateway's machine." })
  path!: boolean;
  @Field(() => String, { nullable: true })
  placeholder?: string;
}

@ObjectType({ description: 'A source topology the gateway has, with its own options.' })
export class SourceTopologyView {
  @Field(() => String)
  topology!: string;
  @Field(() => String, { description: 'The plugin that brings it.' })
  plugin!: string;
  @Field(() => String, {
    description: 'Its field in `SourceOptionsInput` (null when it has no options of its own).',
    nullable: true,
  })
  optionsField?: string;
  @Field(() => Boolean, { description: 'It reads servers given as `SourceInput.nodes`.' })
  takesNodes!: boolean;
  @Field(() => [SourceOptionView])
  options!: SourceOptionView[];
}

@ObjectType()
export class AlarmRuleView {
  @Field(() => ID)
  id!: string;
  @Field(() => String, { nullable: true })
  taskId?: string;
  @Field(() => AlarmKind)
  kind!: string;
  @Field(() => Float)
  threshold!: number;
  @Field(() => Float)
  forSeconds!: number;
  @Field(() => String, {
    description: 'The webhook host only (the URL is write-only: it may carry a token).',
  })
  webhookHost!: string;
  @Field(() => Date)
  createdAt!: Date;
}

@ObjectType({ description: 'An alarm sent (or being retried) to a rule’s webhook.' })
export class AlarmDeliveryView {
  @Field(() => ID)
  id!: string;
  @Field(() => ID)
  ruleId!: string;
  @Field(() => String)
  taskId!: string;
  @Field(() => String, { description: 'firing | resolved' })
  state!: string;
  @Field(() => Int)
  attempts!: number;
  @Field(() => Boolean)
  delivered!: boolean;
  @Field(() => String, { nullable: true })
  lastError?: string;
  @Field(() => Date)
  at!: Date;
}

@ObjectType({ description: 'A verification of the task: source against target under its mapping.' })
export class VerifyRunView {
  @Field(() => ID)
  id!: string;
  @Field(() => String)
  mode!: string;
  @Field(() => String, { description: 'running | done | failed' })
  status!: string;
  @Field(() => Int)
  rounds!: number;
  @Field(() => Float)
  keysChecked!: number;
  @Field(() => Float)
  differences!: number;
  @Field(() => GraphQLJSONObject)
  counts!: Record<string, number>;
  @Field(() => [Int])
  perRound!: number[];
  @Field(() => [GraphQLJSONObject], {
    description: 'The differences left after the last round (at most 1000; keys as latin1 text).',
  })
  details!: Array<Record<string, unknown>>;
  @Field(() => String, { nullable: true })
  error?: string;
  @Field(() => Date)
  startedAt!: Date;
  @Field(() => Date, { nullable: true })
  finishedAt?: Date;
}
