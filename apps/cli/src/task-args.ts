import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import {
  type Endpoint,
  endpointName,
  type FerryPlugin,
  parseDbMap,
  parseFilter,
  parseNodeSpec,
  parseRedisUrl,
  type TaskOptions,
  type TaskSpec,
} from '@ferry/core';
import { FerryError, isFerryError } from '@ferry/errors';
import { parseCommandArgs } from './args.js';
import type { Io } from './io.js';
import {
  buildSource,
  describeSource,
  type SourceFlags,
  sourceFlagOptions,
  sourceFlags,
  sourceFlagUsage,
} from './source-args.js';

/** YAML's parser, loaded when a file is read: some 30 ms of every start-up otherwise (yaml is CommonJS). */
function parseYaml(text: string): unknown {
  const { parse } = createRequire(import.meta.url)('yaml') as typeof import('yaml');
  return parse(text);
}

/** The options that describe a task, shared by `ferry migrate`, `check` and `verify` (the source topologies add theirs). */
const FIXED_TASK_ARGS = {
  source: { type: 'string' },
  'source-node': { type: 'string', multiple: true },
  'source-topology': { type: 'string' },
  'source-password': { type: 'string' },
  target: { type: 'string' },
  'target-cluster': { type: 'boolean' },
  'target-proxy': { type: 'string' },
  'target-version': { type: 'string' },
  config: { type: 'string' },
  filter: { type: 'string', multiple: true },
  'db-map': { type: 'string' },
  'rename-prefix': { type: 'string' },
  'write-mode': { type: 'string' },
  'snapshot-threads': { type: 'string' },
  'target-import-mode': { type: 'string' },
  conflict: { type: 'string' },
  'big-key-threshold': { type: 'string' },
  'rate-keys': { type: 'string' },
  'rate-bytes': { type: 'string' },
  heartbeat: { type: 'boolean' },
  'reserved-prefix': { type: 'string' },
  transform: { type: 'string', multiple: true },
  'task-id': { type: 'string' },
  'state-dir': { type: 'string' },
  json: { type: 'boolean' },
} as const;

/** Their help text (the source topologies' flags go after --source-password). */
function usage(topologies: string[], pluginFlags: string, transforms: string[]): string {
  return `  --source URL            redis://[user:password@]host:port (rediss:// for TLS)
  --source-node SPEC      host:port[:password], repeatable: the source and/or replicas of it
                          (Ferry reads from an in-sync replica when one is given); for the
                          sharded topologies: cluster seeds, twemproxy backends, codis group masters
  --source-topology T     ${topologies.map((t, i) => (i === 0 ? `${t} (default)` : t)).join(' | ')}
  --source-password PW    the password of every source node (twemproxy backends, codis servers)
${pluginFlags}  --target URL            redis://[user:password@]host:port
  --target-cluster        the target is a Redis Cluster (the URL is any node of it)
  --target-proxy P        the target is a proxy: twemproxy | codis (db 0, no MULTI; codis: no RESTORE)
  --target-version V      the Redis version behind the proxy (default: RESTORE tried, rewrite if refused)
  --target-import-mode M  Valkey 8.1+ targets: auto (default: on while the task runs, where allowed)
                          | on (required) | off; keys there then neither expire nor are evicted
  --config FILE           YAML with source, target and options (flags override it)
  --filter PATTERN        keys to migrate: glob (user:*), prefix:P, regex:R; !PATTERN excludes (repeatable)
  --db-map MAP            SRC=DST[+PREFIX],… e.g. 0=0,1=0+db1:  (* = every other db)
  --rename-prefix P       add P in front of every key on the target
  --write-mode MODE       auto (default) | restore | rewrite
  --snapshot-threads W    auto (default: a thread per shard's snapshot above 2 cores) | always | never
  --conflict POLICY       fail (default: the target must be empty) | replace | skip
  --big-key-threshold N   values bigger than N bytes are written in chunks (default 16 MB)
  --rate-keys N           at most N keys (or commands) per second
  --rate-bytes N          at most N bytes per second
  --heartbeat             write __ferry:heartbeat:<task> on the source every second to measure lag in ms
  --reserved-prefix P     the prefix of Ferry's own keys (checkpoints, leases), default __ferry:; the
                          precheck fails when the source holds keys under it: choose another then
  --transform ID          apply a key transform plugin (rename or drop keys; load it with --plugin),
                          repeatable, in order${transforms.length ? `: ${transforms.join(', ')}` : ''}
  --task-id ID            name of the checkpoint (default: derived from source and target)
  --state-dir DIR         checkpoints and spool files (default .ferry)
  --plugin NAME           load a plugin package (or its path) before anything else; repeatable, and
                          FERRY_PLUGINS=a,b does the same
`;
}

type ArgTable = Record<string, { type: 'string' | 'boolean'; multiple?: boolean }>;

/** Each task command's own flags, besides the task flags. */
const COMMAND_ARGS = {
  migrate: {
    'until-synced': { type: 'boolean' },
    'synced-for': { type: 'string' },
    fresh: { type: 'boolean' },
    'lease-ttl': { type: 'string' },
  },
  check: {},
  verify: {
    mode: { type: 'string' },
    sample: { type: 'string' },
    rounds: { type: 'string' },
    interval: { type: 'string' },
    'ttl-tolerance': { type: 'string' },
    rate: { type: 'string' },
    out: { type: 'string' },
  },
} as const satisfies Record<string, ArgTable>;

/** Flags a plugin's option may not take: Ferry's own, in any task command (and --help, --plugin). */
const RESERVED = new Set([
  ...Object.keys(FIXED_TASK_ARGS),
  ...Object.values(COMMAND_ARGS).flatMap((t) => Object.keys(t)),
  'help',
  'plugin',
]);

/**
 * A task command's arguments: the task flags of these plugins and the command's own; or the exit
 * code once the usage or the error was printed.
 */
export function parseTaskCommand(
  command: keyof typeof COMMAND_ARGS,
  argv: string[],
  io: Io,
  plugins: FerryPlugin[],
  usage: (taskUsage: string) => string,
): { values: TaskArgValues; sources: SourceFlags } | { exit: number } {
  let flags: ReturnType<typeof taskArgs>;
  try {
    flags = taskArgs(plugins);
  } catch (err) {
    return { exit: reportError(err, io) };
  }
  const options = { ...flags.options, ...(COMMAND_ARGS[command] as ArgTable) };
  const args = parseCommandArgs(command, argv, options, usage(flags.usage), io);
  if ('exit' in args) return args;
  return { values: args.values, sources: flags.sources };
}

/** The task flags and their help for these plugins (each source topology's options included). */
export function taskArgs(plugins: FerryPlugin[]): {
  options: ArgTable;
  usage: string;
  sources: SourceFlags;
} {
  const sources = sourceFlags(plugins, RESERVED);
  return {
    options: { ...FIXED_TASK_ARGS, ...sourceFlagOptions(sources) },
    usage: usage(
      sources.topologies.map((t) => t.plugin.topology),
      sourceFlagUsage(sources),
      plugins.flatMap((p) => (p.kind === 'transform' ? [`${p.id} (${p.title})`] : [])),
    ),
    sources,
  };
}

export type TaskArgValues = Record<string, string | boolean | string[] | undefined>;

interface FileConfig {
  /** url, nodes, topology, password, preferReplica, and the topology's own options (by name or flag). */
  source?: Record<string, unknown>;
  target?: { url?: string; cluster?: boolean; proxy?: string; version?: string };
  taskId?: string;
  options?: TaskOptions;
}

function loadConfig(path: string): FileConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new FerryError('CONFIG_INVALID', `cannot read config ${path}: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = parseYaml(text);
  } catch (err) {
    throw new FerryError('CONFIG_INVALID', `config ${path} is not valid YAML: ${(err as Error).message}`);
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed))
    throw new FerryError(
      'CONFIG_INVALID',
      `config ${path} must be a mapping with source, target and options`,
    );
  return parsed as FileConfig;
}

export function number(value: string | undefined, what: string): number | undefined {
  if (value === undefined) return undefined;
  const units: Record<string, number> = { '': 1, k: 1e3, kb: 1024, m: 1e6, mb: 1 << 20, g: 1e9, gb: 1 << 30 };
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(value.trim());
  const unit = m ? units[(m[2] ?? '').toLowerCase()] : undefined;
  if (!m || unit === undefined)
    throw new FerryError(
      'CONFIG_INVALID',
      `${what}: "${value}" is not a number (units: k, m, g, kb, mb, gb)`,
    );
  return Number(m[1]) * unit;
}

/** What to do about an error, in one line. */
function hint(err: FerryError): string | undefined {
  switch (err.code) {
    case 'AUTH_FAILED':
      return err.details?.side === 'target'
        ? "check the target's password: --target redis://:PASSWORD@host:port or redis://USER:PASSWORD@host:port"
        : err.details?.side === 'source'
          ? "check the source's password: --source redis://:PASSWORD@host:port, --source-node host:port:PASSWORD, or --source-password for every node"
          : 'check the password: redis://:PASSWORD@host:port, redis://USER:PASSWORD@host:port, or --source-node host:port:PASSWORD';
    case 'CONNECTION_FAILED':
    case 'TIMEOUT':
      return 'check the host and port, and that this machine can reach them (firewall, bind, protected-mode)';
    case 'SYNC_NOT_PERMITTED':
      return 'the source must allow PSYNC/SYNC for this user (ACL +psync +sync +replconf; not renamed or disabled); managed services often block it: use a replica you control';
    case 'SOURCE_NOT_READY':
      return 'the source is loading or its own replication is down: retry in a moment';
    case 'RDB_CORRUPT':
    case 'RDB_UNSUPPORTED':
      return 'the source sent a snapshot Ferry cannot read: report it with the Redis version';
    case 'DISK_FULL':
      return 'the spool files were removed; free space (or use --state-dir on a bigger disk) and run the same command again';
    case 'LEASE_HELD':
      return 'one process per task: stop the other one (Ctrl-C keeps its checkpoint), or wait for its lease to lapse if it is gone';
    case 'NOT_IN_SYNC':
      // (a file source's message says how to compare against a file)
      return /load the file into a server/.test(err.message)
        ? undefined
        : 'ferry verify with the same options lists what differs';
    case 'CHECKPOINT_MISMATCH':
      return 'run the command with the settings the checkpoint names, or add --fresh to start over';
    case 'TARGET_WRITE_FAILED':
      return /DUMP payload|Bad data format/.test(err.message) ? 'use --write-mode rewrite' : undefined;
    default:
      return undefined;
  }
}

/** The task a command line (and its --config file) describes, and where its state lives. */
export function buildTaskSpec(
  values: TaskArgValues,
  sources: SourceFlags,
): { spec: TaskSpec; stateDir: string } {
  const file = typeof values.config === 'string' ? loadConfig(values.config) : {};
  const src = file.source ?? {};
  const text = (v: unknown, what: string): string | undefined => {
    if (v === undefined) return undefined;
    if (typeof v !== 'string') throw new FerryError('CONFIG_INVALID', `${what} must be text`);
    return v;
  };
  const sourceUrl = (values.source as string | undefined) ?? text(src.url, 'source.url');
  const nodes: Endpoint[] = [];
  if (sourceUrl) {
    const { endpoint, db } = parseRedisUrl(sourceUrl, '--source');
    if (db)
      throw new FerryError(
        'CONFIG_INVALID',
        '--source: a db in the URL is not used (all dbs are migrated); use --db-map to choose',
      );
    nodes.push(endpoint);
  }
  const fileNodes = src.nodes === undefined ? [] : Array.isArray(src.nodes) ? src.nodes : [src.nodes];
  for (const n of (values['source-node'] as string[] | undefined) ?? fileNodes)
    nodes.push(parseNodeSpec(String(n), '--source-node'));
  const password = (values['source-password'] as string | undefined) ?? text(src.password, 'source.password');
  if (src.preferReplica !== undefined && typeof src.preferReplica !== 'boolean')
    throw new FerryError('CONFIG_INVALID', 'source.preferReplica must be true or false');
  const {
    topology,
    options: sourceOptions,
    locator,
  } = buildSource(sources, values, {
    topology: (values['source-topology'] as string | undefined) ?? text(src.topology, 'source.topology'),
    nodes,
    password,
    preferReplica: src.preferReplica as boolean | undefined,
    file: src,
  });
  const targetUrl = (values.target as string | undefined) ?? file.target?.url;
  if (!targetUrl) throw new FerryError('CONFIG_INVALID', 'give the target: --target redis://host:port');
  const target = parseRedisUrl(targetUrl, '--target').endpoint;
  const cluster = Boolean(values['target-cluster'] ?? file.target?.cluster);
  const proxy = (values['target-proxy'] as string | undefined) ?? file.target?.proxy;
  if (proxy !== undefined && proxy !== 'twemproxy' && proxy !== 'codis')
    throw new FerryError('CONFIG_INVALID', `--target-proxy must be twemproxy or codis; got "${proxy}"`);
  const targetVersion = (values['target-version'] as string | undefined) ?? file.target?.version;
  const options: TaskOptions = { ...(file.options ?? {}) };
  if (values.filter) options.filter = parseFilter(values.filter as string[]);
  if (values['db-map']) options.dbMap = parseDbMap(values['db-map'] as string);
  if (values['rename-prefix'] !== undefined) options.renamePrefix = values['rename-prefix'] as string;
  if (values['write-mode']) options.writeMode = values['write-mode'] as TaskOptions['writeMode'];
  if (values['snapshot-threads'])
    options.snapshotThreads = values['snapshot-threads'] as TaskOptions['snapshotThreads'];
  if (values['target-import-mode'])
    options.targetImportMode = values['target-import-mode'] as TaskOptions['targetImportMode'];
  if (values.conflict) options.conflict = values.conflict as TaskOptions['conflict'];
  const big = number(values['big-key-threshold'] as string | undefined, '--big-key-threshold');
  if (big !== undefined) options.bigKeyThreshold = big;
  const keys = number(values['rate-keys'] as string | undefined, '--rate-keys');
  const bytes = number(values['rate-bytes'] as string | undefined, '--rate-bytes');
  if (keys !== undefined || bytes !== undefined)
    options.rateLimit = {
      ...(keys !== undefined ? { keysPerSec: keys } : {}),
      ...(bytes !== undefined ? { bytesPerSec: bytes } : {}),
    };
  if (values.heartbeat) options.sourceHeartbeat = true;
  if (values['reserved-prefix'] !== undefined) options.reservedPrefix = values['reserved-prefix'] as string;
  if (values.transform) options.transforms = values.transform as string[];
  const taskId =
    (values['task-id'] as string | undefined) ??
    file.taskId ??
    `m-${createHash('sha1')
      .update(
        // (a standalone source keeps the id earlier versions gave it, so its checkpoint is found)
        `${topology === 'standalone' ? '' : `${topology}:`}${locator}>${endpointName(target)}${cluster ? ':cluster' : ''}${proxy ? `:${proxy}` : ''}`,
      )
      .digest('hex')
      .slice(0, 12)}`;
  const stateDir = resolve((values['state-dir'] as string | undefined) ?? '.ferry');
  const spec: TaskSpec = {
    id: taskId,
    source: { topology, options: sourceOptions },
    target: {
      endpoint: target,
      cluster,
      ...(proxy ? { proxy: proxy as 'twemproxy' | 'codis' } : {}),
      ...(targetVersion ? { version: targetVersion } : {}),
    },
    options,
  };
  return { spec, stateDir };
}

/** The source and target of a task spec, for a title line: "cluster 10.0.0.5:7000 → 10.0.0.9:6379 (proxy twemproxy)". */
export function describeTask(spec: TaskSpec, sources: SourceFlags): string {
  const where = describeSource(sources, spec.source.topology, spec.source.options as Record<string, unknown>);
  const t = spec.target;
  const kind = t.cluster ? ' (cluster)' : t.proxy ? ` (${t.proxy})` : '';
  return `${spec.source.topology === 'standalone' ? '' : `${spec.source.topology} `}${where} → ${endpointName(t.endpoint)}${kind}`;
}

/** Prints a FerryError as one line with its code and what to do; exit code 2 for bad input, else 1. */
export function reportError(err: unknown, io: Io): number {
  if (isFerryError(err)) {
    const h = hint(err);
    io.err(`ferry: ${err.message} [${err.code}]\n${h ? `  → ${h}\n` : ''}`);
    return err.code === 'CONFIG_INVALID' ? 2 : 1;
  }
  io.err(`ferry: ${(err as Error)?.stack ?? String(err)}\n`);
  return 1;
}
