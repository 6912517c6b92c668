import { GraphQLJSONObject } from 'graphql-scalars';
import { Field, Float, ID, InputType, Int, ObjectType } from 'type-graphql';

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
  @Field(() => String, { description: 'standalone | cluster | twemproxy | codis (see `plugins`).' })
  topology!: string;
  @Field(() => [EndpointInput], {
    nullable: true,
    description: 'Nodes: the server and replicas, cluster seeds, twemproxy backends or codis group masters.',
  })
  nodes?: EndpointInput[];
  @Field(() => String, { nullable: true, description: 'twemproxy: the nutcracker.yml content.' })
  nutcrackerConfig?: string;
  @Field(() => String, { nullable: true, description: 'twemproxy: the pool.' })
  pool?: string;
  @Field(() => String, { nullable: true, description: 'codis: the dashboard address.' })
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

@InputType({
  description:
    'Task options, as in the engine (dbMap, filter, renamePrefix, writeMode, conflict, rateLimit…).',
})
export class CreateTaskInput {
  @Field(() => String)
  name!: string;
  @Field(() => [String], { nullable: true })
  tags?: string[];
  @Field(() => SourceInput)
  source!: SourceInput;
  @Field(() => TargetInput)
  target!: TargetInput;
  @Field(() => GraphQLJSONObject, { nullable: true })
  options?: Record<string, unknown>;
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
  @Field(() => GraphQLJSONObject, { nullable: true })
  options?: Record<string, unknown>;
}

@InputType()
export class TaskFilter {
  @Field(() => String, { nullable: true })
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
  @Field(() => String, { description: 'task-failed | lag | snapshot-duration' })
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
  @Field(() => String)
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
  @Field(() => String)
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
  @Field(() => String)
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
  @Field(() => String)
  phase!: string;
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
  @Field(() => GraphQLJSONObject)
  options!: Record<string, unknown>;
  @Field(() => String)
  runningMode!: string;
  @Field(() => Date, { nullable: true })
  scheduledAt?: Date;
  @Field(() => String)
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
  @Field(() => String)
  state!: string;
  @Field(() => String)
  phase!: string;
  @Field(() => Float)
  percent!: number;
  @Field(() => Float)
  keysPerSec!: number;
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
  @Field(() => String, { nullable: true })
  version?: string;
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

@ObjectType()
export class AlarmRuleView {
  @Field(() => ID)
  id!: string;
  @Field(() => String, { nullable: true })
  taskId?: string;
  @Field(() => String)
  kind!: string;
  @Field(() => Float)
  threshold!: number;
  @Field(() => Float)
  forSeconds!: number;
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
