import type { Endpoint } from './endpoint.js';
import type { OptionsSchema } from './options-schema.js';
import type { ReaderSpec, ShardReader } from './reader.js';
import type { ReadOnlyProbe } from './server.js';
import type { ShardSpec } from './shard.js';
import type { ProxyKind, ResolvedOptions } from './task-options.js';

export type Awaitable<T> = T | Promise<T>;

export interface PluginMeta {
  name: string;
  version: string;
  /** Semver range of the engine (@ferry/core) this plugin works with: "^0.1.0", ">=0.1.0", "0.x" or "*". */
  engine: string;
}

export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
}

/** The events a plugin may emit (the engine's event map holds these and many more). */
export interface PluginEvents {
  /** Something a user should know that does not stop the task. */
  'task:warning': { taskId: string; shardId?: string; message: string; key?: string; command?: string };
}

export interface PluginContext {
  taskId: string;
  signal: AbortSignal;
  log: Logger;
  emit: <E extends keyof PluginEvents>(event: E, payload: PluginEvents[E]) => void;
}

export type TopologyChange =
  /** The shard has a new primary (and replica set): links to a node no longer in it move over with PSYNC. */
  | { kind: 'failover'; shard: ShardSpec; detail: string }
  /**
   * Slots are moving between source shards. `pause`: the task pauses applying (a topology, such
   * as Codis, whose migrations Ferry cannot follow safely); otherwise it is an event.
   */
  | { kind: 'slots-moving'; shardId: string; detail: string; slots: number[]; pause?: boolean }
  /** Shards were added or removed: the task cannot follow that and says so. */
  | { kind: 'shards-changed'; shards: ShardSpec[]; detail: string };

/** A way of reading a source deployment: how to find its shards and what to watch while migrating. */
export interface SourceTopologyPlugin<O = unknown> {
  kind: 'source-topology';
  meta: PluginMeta;
  /** The topology's name in task specs: "standalone", "cluster", "codis", "twemproxy", "file". */
  topology: string;
  /**
   * The options a user gives, as a schema (see `options-schema.ts`): the CLI makes its flags and
   * help from it, the gateway its GraphQL input, the console its form. `parseOptions` still has the
   * last word on what they mean.
   */
  options?: OptionsSchema;
  parseOptions(raw: unknown): O;
  discover(opts: O, ctx: PluginContext): Promise<ShardSpec[]>;
  watch?(opts: O, ctx: PluginContext): AsyncIterable<TopologyChange>;
  /**
   * Opens a shard's reader for a pass, for a topology whose data does not come by replication
   * (a backup file). Default: a replica of the shard's source node.
   */
  openReader?(shard: ShardSpec, spec: ReaderSpec, opts: O): ShardReader;
}

export type CheckStatus = 'pass' | 'warn' | 'fail';

export interface CheckResult {
  checkId: string;
  status: CheckStatus;
  /** What the check saw, in one sentence that names the node or db concerned. */
  message: string;
  /** What the user should do about it. */
  advice?: string;
  shardId?: string;
  /** The figures it saw (sizes, counts, settings). */
  details?: Record<string, unknown>;
}

/** What a check plugin is given: the task's shards, target and options, and a read-only probe. */
export interface CheckInput {
  taskId: string;
  /** The source topology's name ("standalone", "cluster", …). */
  sourceTopology: string;
  /** The shards read from a server. */
  shards: ShardSpec[];
  /** The shards read from a backup file (a file source): no server to probe; their plugin checks them. */
  files?: ShardSpec[];
  target: Endpoint;
  targetCluster: boolean;
  /** The target is a proxy (twemproxy, codis-proxy): its servers cannot be read through it. */
  targetProxy?: ProxyKind;
  options: ResolvedOptions;
  /** Where the task spools snapshots and streams. */
  spoolDir: string;
  /** Read-only access to every node, shared by the checks of one run. */
  probe: ReadOnlyProbe;
}

/** One precheck. Pure reads on source and target; never writes, never triggers a BGSAVE. */
export interface CheckPlugin {
  kind: 'check';
  meta: PluginMeta;
  id: string;
  title: string;
  /** Runs when a precheck runs, concurrently with the other checks; reads only. */
  run(input: CheckInput, ctx: PluginContext): Promise<CheckResult[]>;
}

/**
 * A key transform: the name a source key gets on the target, or that it is not migrated. A task
 * names the transforms it applies (`options.transforms`, `--transform ID`), in order; the engine
 * applies them to every key of the snapshot and of the stream's commands alike, before the db map's
 * and the rename prefix, and again wherever it compares source and target (the check before "done",
 * verification). Values are not transformed: a command's keys can be renamed or dropped the same way
 * its snapshot entry is, its values could not be rewritten consistently.
 */
export interface TransformPlugin {
  kind: 'transform';
  meta: PluginMeta;
  /** What a task names it by: lower case letters, digits and dashes. */
  id: string;
  title: string;
  /**
   * The key on the target: `key` itself, another name, or null (not migrated). Pure and
   * deterministic, and fast: it runs for every key of every command.
   */
  key(key: Buffer, db: number): Buffer | null;
  /**
   * The source key a target key came from (the inverse), or null when this transform makes no such
   * key: lets verification find target keys the source lacks. Without it verification compares
   * source → target only, and says so.
   */
  sourceKey?(targetKey: Buffer, db: number): Buffer | null;
}

export type FerryPlugin = SourceTopologyPlugin<unknown> | CheckPlugin | TransformPlugin;
