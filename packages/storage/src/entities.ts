import { EntitySchema } from '@mikro-orm/core';

/** A migration task as the service keeps it. Secrets (endpoints with passwords) are encrypted. */
export interface TaskRow {
  id: string;
  name: string;
  tags: string[];
  /** The source topology's name and its options (encrypted JSON: node passwords). */
  sourceTopology: string;
  sourceOptions: string;
  /** The target `{ endpoint, cluster?, proxy?, version? }` (encrypted JSON). */
  target: string;
  /** Task options (db map, filter, rate limit…), JSON. */
  options: Record<string, unknown>;
  runningMode: 'immediate' | 'scheduled';
  scheduledAt: Date | null;
  status: string;
  /** Warnings of the last precheck acknowledged by the user. */
  warningsAcknowledged: boolean;
  error: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export const TaskSchema = new EntitySchema<TaskRow>({
  name: 'TaskRow',
  tableName: 'ferry_task',
  properties: {
    id: { type: 'string', length: 100, primary: true },
    name: { type: 'string', length: 200 },
    tags: { type: 'json' },
    sourceTopology: { type: 'string', length: 50 },
    sourceOptions: { type: 'text' },
    target: { type: 'text' },
    options: { type: 'json' },
    runningMode: { type: 'string', length: 20 },
    scheduledAt: { type: 'datetime', nullable: true },
    status: { type: 'string', length: 30, index: true },
    warningsAcknowledged: { type: 'boolean' },
    error: { type: 'text', nullable: true },
    createdAt: { type: 'datetime' },
    updatedAt: { type: 'datetime' },
  },
});

/** One shard's replication position: the engine's checkpoint port, and what `task.shards` shows. */
export interface ShardRunRow {
  id: number;
  taskId: string;
  shardId: string;
  replid: string;
  offset: number;
  db: number;
  snapshotDone: boolean;
  /** The target's mapped dbs were empty when the task first started (see ShardCheckpoint). */
  targetWasEmpty: boolean;
  phase: string;
  /** The last metrics of the shard (keys, commands, lag…). */
  counters: Record<string, unknown>;
  updatedAt: Date;
}

export const ShardRunSchema = new EntitySchema<ShardRunRow>({
  name: 'ShardRunRow',
  tableName: 'ferry_shard_run',
  uniques: [{ properties: ['taskId', 'shardId'] }],
  properties: {
    id: { type: 'integer', primary: true, autoincrement: true },
    taskId: { type: 'string', length: 100, index: true },
    shardId: { type: 'string', length: 100 },
    replid: { type: 'string', length: 64 },
    offset: { type: 'double' },
    db: { type: 'integer' },
    snapshotDone: { type: 'boolean' },
    targetWasEmpty: { type: 'boolean', default: false },
    phase: { type: 'string', length: 30 },
    counters: { type: 'json' },
    updatedAt: { type: 'datetime' },
  },
});

export interface CheckReportRow {
  id: number;
  taskId: string;
  status: string;
  durationMs: number;
  /** Per check: id, title, status, duration. */
  checks: Array<Record<string, unknown>>;
  createdAt: Date;
}

export const CheckReportSchema = new EntitySchema<CheckReportRow>({
  name: 'CheckReportRow',
  tableName: 'ferry_check_report',
  properties: {
    id: { type: 'integer', primary: true, autoincrement: true },
    taskId: { type: 'string', length: 100, index: true },
    status: { type: 'string', length: 10 },
    durationMs: { type: 'integer' },
    checks: { type: 'json' },
    createdAt: { type: 'datetime' },
  },
});

export interface CheckResultRow {
  id: number;
  reportId: number;
  checkId: string;
  status: string;
  message: string;
  advice: string | null;
  shardId: string | null;
  details: Record<string, unknown> | null;
}

export const CheckResultSchema = new EntitySchema<CheckResultRow>({
  name: 'CheckResultRow',
  tableName: 'ferry_check_result',
  properties: {
    id: { type: 'integer', primary: true, autoincrement: true },
    reportId: { type: 'integer', index: true },
    checkId: { type: 'string', length: 100 },
    status: { type: 'string', length: 10 },
    message: { type: 'text' },
    advice: { type: 'text', nullable: true },
    shardId: { type: 'string', length: 100, nullable: true },
    details: { type: 'json', nullable: true },
  },
});

/** Everything that happened to a task: state changes, errors, warnings, alarms, acknowledgements. */
export interface TaskEventRow {
  id: number;
  taskId: string;
  at: Date;
  kind: string;
  message: string;
  data: Record<string, unknown> | null;
}

export const TaskEventSchema = new EntitySchema<TaskEventRow>({
  name: 'TaskEventRow',
  tableName: 'ferry_task_event',
  indexes: [{ properties: ['taskId', 'id'] }],
  properties: {
    id: { type: 'integer', primary: true, autoincrement: true },
    taskId: { type: 'string', length: 100 },
    at: { type: 'datetime' },
    kind: { type: 'string', length: 50 },
    message: { type: 'text' },
    data: { type: 'json', nullable: true },
  },
});

/** A task's figures over one interval. */
export interface MetricSampleRow {
  id: number;
  taskId: string;
  at: Date;
  phase: string;
  keys: number;
  commands: number;
  snapshotBytes: number;
  lagBytes: number;
  lagMs: number | null;
  errors: number;
}

export const MetricSampleSchema = new EntitySchema<MetricSampleRow>({
  name: 'MetricSampleRow',
  tableName: 'ferry_metric_sample',
  indexes: [{ properties: ['taskId', 'at'] }],
  properties: {
    id: { type: 'integer', primary: true, autoincrement: true },
    taskId: { type: 'string', length: 100 },
    at: { type: 'datetime' },
    phase: { type: 'string', length: 30 },
    keys: { type: 'double' },
    commands: { type: 'double' },
    snapshotBytes: { type: 'double' },
    lagBytes: { type: 'double' },
    lagMs: { type: 'integer', nullable: true },
    errors: { type: 'integer' },
  },
});

/** When to alarm: a task interrupted or failed, lag above N seconds for M seconds, a snapshot longer than H. */
export interface AlarmRuleRow {
  id: number;
  /** undefined: every task. */
  taskId: string | null;
  kind: 'task-failed' | 'lag' | 'snapshot-duration';
  /** lag: seconds of lag; snapshot-duration: seconds. */
  threshold: number;
  /** lag: for how many seconds. */
  forSeconds: number;
  /** Webhook URL (encrypted: it may carry a token). */
  webhook: string;
  createdAt: Date;
}

export const AlarmRuleSchema = new EntitySchema<AlarmRuleRow>({
  name: 'AlarmRuleRow',
  tableName: 'ferry_alarm_rule',
  properties: {
    id: { type: 'integer', primary: true, autoincrement: true },
    taskId: { type: 'string', length: 100, nullable: true },
    kind: { type: 'string', length: 30 },
    threshold: { type: 'double' },
    forSeconds: { type: 'double' },
    webhook: { type: 'text' },
    createdAt: { type: 'datetime' },
  },
});

export interface AlarmDeliveryRow {
  id: number;
  ruleId: number;
  taskId: string;
  /** firing | resolved */
  state: string;
  attempts: number;
  delivered: boolean;
  lastError: string | null;
  at: Date;
}

export const AlarmDeliverySchema = new EntitySchema<AlarmDeliveryRow>({
  name: 'AlarmDeliveryRow',
  tableName: 'ferry_alarm_delivery',
  properties: {
    id: { type: 'integer', primary: true, autoincrement: true },
    ruleId: { type: 'integer', index: true },
    taskId: { type: 'string', length: 100 },
    state: { type: 'string', length: 20 },
    attempts: { type: 'integer' },
    delivered: { type: 'boolean' },
    lastError: { type: 'text', nullable: true },
    at: { type: 'datetime' },
  },
});

/** API tokens made with `ferry token create` (only their SHA-256 is kept). */
export interface ApiTokenRow {
  id: number;
  name: string;
  sha256: string;
  createdAt: Date;
}

export const ApiTokenSchema = new EntitySchema<ApiTokenRow>({
  name: 'ApiTokenRow',
  tableName: 'ferry_api_token',
  properties: {
    id: { type: 'integer', primary: true, autoincrement: true },
    name: { type: 'string', length: 100 },
    sha256: { type: 'string', length: 64, unique: true },
    createdAt: { type: 'datetime' },
  },
});

/** A verification of a task's source against its target, and what it found. */
export interface VerifyRunRow {
  id: number;
  taskId: string;
  mode: string;
  /** running | done | failed */
  status: string;
  rounds: number;
  keysChecked: number;
  differences: number;
  counts: Record<string, number>;
  perRound: number[];
  /** The differences left after the last round (bounded), keys as latin1 text. */
  details: Array<Record<string, unknown>>;
  error: string | null;
  startedAt: Date;
  finishedAt: Date | null;
}

export const VerifyRunSchema = new EntitySchema<VerifyRunRow>({
  name: 'VerifyRunRow',
  tableName: 'ferry_verify_run',
  properties: {
    id: { type: 'integer', primary: true, autoincrement: true },
    taskId: { type: 'string', length: 100, index: true },
    mode: { type: 'string', length: 10 },
    status: { type: 'string', length: 10 },
    rounds: { type: 'integer' },
    keysChecked: { type: 'double' },
    differences: { type: 'double' },
    counts: { type: 'json' },
    perRound: { type: 'json' },
    details: { type: 'json' },
    error: { type: 'text', nullable: true },
    startedAt: { type: 'datetime' },
    finishedAt: { type: 'datetime', nullable: true },
  },
});

export const ENTITIES = [
  VerifyRunSchema,
  TaskSchema,
  ShardRunSchema,
  CheckReportSchema,
  CheckResultSchema,
  TaskEventSchema,
  MetricSampleSchema,
  AlarmRuleSchema,
  AlarmDeliverySchema,
  ApiTokenSchema,
];
