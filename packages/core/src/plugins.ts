import { FerryError } from '@ferry/errors';
import type { Probe } from './checks/Probe.js';
import type { Endpoint } from './endpoint.js';
import type { TaskEvents } from './events.js';
import type { ResolvedOptions } from './options.js';
import type { ReaderSpec, ShardReader } from './reader-contract.js';
import type { ShardSpec } from './shard-spec.js';
import type { ProxyKind } from './target/proxy.js';

export type { ShardSpec } from './shard-spec.js';

export type Awaitable<T> = T | Promise<T>;

export interface PluginMeta {
  name: string;
  version: string;
  /** Semver range of @ferry/core this plugin works with: "^0.1.0", ">=0.1.0", "0.x" or "*". */
  engine: string;
}

export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
}

export interface PluginContext {
  taskId: string;
  signal: AbortSignal;
  log: Logger;
  emit: <E extends keyof TaskEvents>(event: E, payload: TaskEvents[E]) => void;
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
  /** The topology's name in task specs: "standalone", "cluster", "codis", "twemproxy". */
  topology: string;
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

/** One precheck. Pure reads on source and target; never writes, never triggers a BGSAVE. */
export interface CheckPlugin {
  kind: 'check';
  meta: PluginMeta;
  id: string;
  title: string;
  /** Runs when a precheck runs, concurrently with the other checks; reads only. */
  run(input: CheckInput, ctx: PluginContext): Promise<CheckResult[]>;
}

export type FerryPlugin = SourceTopologyPlugin<unknown> | CheckPlugin;

/** This package's version, which plugins' `engine` ranges are checked against. */
export const CORE_VERSION = '0.1.0';

function parseVersion(v: string): [number, number, number] | undefined {
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(v.trim());
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
}

function cmp(a: number[], b: number[]): number {
  for (let i = 0; i < 3; i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) - (b[i] ?? 0);
  return 0;
}

/** The subset of semver ranges plugins use: `*`, `x.y.z`, `^x.y.z`, `~x.y.z`, `>=x.y.z`, `x.x`, and `a || b`. */
export function satisfies(version: string, range: string): boolean {
  const v = parseVersion(version);
  if (!v) return false;
  return range.split('||').some((alt) => {
    const r = alt.trim();
    if (r === '*' || r === '') return true;
    const x = /^(\d+)(?:\.(\d+|x))?(?:\.x)?$/.exec(r);
    if (x) return v[0] === Number(x[1]) && (x[2] === undefined || x[2] === 'x' || v[1] === Number(x[2]));
    const m = /^(\^|~|>=|>|<=|<|=)?\s*(\d+\.\d+\.\d+)$/.exec(r);
    if (!m) return false;
    const b = parseVersion(m[2] as string) as [number, number, number];
    const c = cmp(v, b);
    switch (m[1]) {
      case '^':
        return (
          c >= 0 && (b[0] > 0 ? v[0] === b[0] : b[1] > 0 ? v[0] === 0 && v[1] === b[1] : cmp(v, b) === 0)
        );
      case '~':
        return c >= 0 && v[0] === b[0] && v[1] === b[1];
      case '>=':
        return c >= 0;
      case '>':
        return c > 0;
      case '<=':
        return c <= 0;
      case '<':
        return c < 0;
      default:
        return c === 0;
    }
  });
}

/** Registered plugins by kind; duplicates and engine-version mismatches are refused with coded errors. */
export class PluginRegistry {
  private readonly topologies = new Map<string, SourceTopologyPlugin<unknown>>();
  private readonly checkList = new Map<string, CheckPlugin>();

  register(plugin: FerryPlugin): void {
    const meta = plugin?.meta;
    if (!meta || typeof meta.name !== 'string' || typeof meta.engine !== 'string')
      throw new FerryError('CONFIG_INVALID', 'a plugin needs meta { name, version, engine }');
    if (!satisfies(CORE_VERSION, meta.engine)) {
      throw new FerryError(
        'CONFIG_INVALID',
        `plugin ${meta.name}@${meta.version} needs @ferry/core ${meta.engine}; this is ${CORE_VERSION}`,
      );
    }
    if (plugin.kind === 'source-topology') {
      const prev = this.topologies.get(plugin.topology);
      if (prev)
        throw new FerryError(
          'CONFIG_INVALID',
          `source topology "${plugin.topology}" is registered twice (${prev.meta.name} and ${meta.name})`,
        );
      this.topologies.set(plugin.topology, plugin);
    } else if (plugin.kind === 'check') {
      const prev = this.checkList.get(plugin.id);
      if (prev)
        throw new FerryError(
          'CONFIG_INVALID',
          `check "${plugin.id}" is registered twice (${prev.meta.name} and ${meta.name})`,
        );
      this.checkList.set(plugin.id, plugin);
    } else {
      throw new FerryError(
        'CONFIG_INVALID',
        `plugin ${meta.name} has an unknown kind ${JSON.stringify((plugin as { kind: unknown }).kind)}`,
      );
    }
  }

  topology(name: string): SourceTopologyPlugin<unknown> {
    const p = this.topologies.get(name);
    if (!p) {
      throw new FerryError(
        'CONFIG_INVALID',
        `no source topology "${name}" is registered (have: ${[...this.topologies.keys()].join(', ') || 'none'})`,
      );
    }
    return p;
  }

  checks(): CheckPlugin[] {
    return [...this.checkList.values()];
  }

  /** Every registered source topology. */
  sourceTopologies(): SourceTopologyPlugin<unknown>[] {
    return [...this.topologies.values()];
  }
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
  probe: Probe;
}
