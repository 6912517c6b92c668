import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  createEngine,
  type Endpoint,
  endpointName,
  FileCheckpointStore,
  parseDbMap,
  parseFilter,
  parseNodeSpec,
  parseRedisUrl,
  type ShardMetrics,
  type Task,
  type TaskOptions,
  type TaskSpec,
} from '@ferry/core';
import { FerryError, isFerryError } from '@ferry/errors';
import { sourceStandalone } from '@ferry/source-standalone';
import { parse as parseYaml } from 'yaml';
import type { Io } from '../io.js';

export const MIGRATE_USAGE = `Usage: ferry migrate --source URL --target URL [options]

Moves a live Redis to another server or to a Redis Cluster: the snapshot, then every write made
meanwhile, until you stop it (Ctrl-C keeps the checkpoint: run the same command again to resume)
or, with --until-synced, until the target has caught up.

  --source URL            redis://[user:password@]host:port (rediss:// for TLS)
  --source-node SPEC      host:port[:password], repeatable: the source and/or replicas of it
                          (Ferry reads from an in-sync replica when one is given)
  --target URL            redis://[user:password@]host:port
  --target-cluster        the target is a Redis Cluster (the URL is any node of it)
  --config FILE           YAML with source, target and options (flags override it)
  --until-synced          complete and exit 0 once the lag has been 0 for --synced-for seconds
  --synced-for SECONDS    default 3
  --filter PATTERN        keys to migrate: glob (user:*), prefix:P, regex:R; !PATTERN excludes (repeatable)
  --db-map MAP            SRC=DST[+PREFIX],… e.g. 0=0,1=0+db1:  (* = every other db)
  --rename-prefix P       add P in front of every key on the target
  --write-mode MODE       auto (default) | restore | rewrite
  --conflict POLICY       fail (default: the target must be empty) | replace | skip
  --big-key-threshold N   values bigger than N bytes are written in chunks (default 16 MB)
  --rate-keys N           at most N keys (or commands) per second
  --rate-bytes N          at most N bytes per second
  --heartbeat             write __ferry:heartbeat:<task> on the source every second to measure lag in ms
  --task-id ID            name of the checkpoint (default: derived from source and target)
  --state-dir DIR         checkpoints and spool files (default .ferry)
  --json                  one JSON event per line instead of the progress display
`;

interface FileConfig {
  source?: { url?: string; nodes?: string[] };
  target?: { url?: string; cluster?: boolean };
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

function number(value: string | undefined, what: string): number | undefined {
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
      return 'check the password: redis://:PASSWORD@host:port, redis://USER:PASSWORD@host:port, or --source-node host:port:PASSWORD';
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
    case 'TARGET_WRITE_FAILED':
      return /DUMP payload|Bad data format/.test(err.message) ? 'use --write-mode rewrite' : undefined;
    default:
      return undefined;
  }
}

function fmtBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

function fmtCount(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
  return String(n);
}

function bar(fraction: number, width = 24): string {
  const f = Math.max(0, Math.min(1, fraction));
  const full = Math.round(f * width);
  return `[${'#'.repeat(full)}${'.'.repeat(width - full)}]`;
}

/** One line per shard describing where it is. */
function describeShard(m: ShardMetrics, rate: { keys: number; cmds: number }, started: number): string {
  if (m.phase === 'connecting') return `${m.shardId}: connecting`;
  if (m.phase === 'waiting-bgsave') return `${m.shardId}: waiting for the source's BGSAVE`;
  if (m.phase === 'snapshot') {
    const total = m.snapshotBytesTotal;
    const frac = total ? m.snapshotBytes / total : m.keysTotal ? m.keys / m.keysTotal : 0;
    const elapsed = (Date.now() - started) / 1000;
    const eta = frac > 0.01 ? Math.max(0, (elapsed / frac) * (1 - frac)) : undefined;
    return `${m.shardId}: snapshot ${bar(frac)} ${(frac * 100).toFixed(0)}%  ${fmtBytes(m.snapshotBytes)}${total ? ` / ${fmtBytes(total)}` : ''}  ${fmtCount(m.keys)}${m.keysTotal ? ` / ${fmtCount(m.keysTotal)}` : ''} keys  ${fmtCount(rate.keys)} keys/s${eta !== undefined ? `  ETA ${eta.toFixed(0)}s` : ''}`;
  }
  return `${m.shardId}: streaming  lag ${fmtBytes(m.lagBytes)}${m.lagMs !== undefined ? ` (${m.lagMs} ms)` : ''}  ${fmtCount(m.commands)} commands  ${fmtCount(rate.cmds)} cmd/s  applied offset ${m.appliedOffset}`;
}

export async function migrateCommand(
  argv: string[],
  io: Io,
  signals: NodeJS.EventEmitter = process,
): Promise<number> {
  let values: Record<string, string | boolean | string[] | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      allowPositionals: false,
      options: {
        source: { type: 'string' },
        'source-node': { type: 'string', multiple: true },
        target: { type: 'string' },
        'target-cluster': { type: 'boolean' },
        config: { type: 'string' },
        'until-synced': { type: 'boolean' },
        'synced-for': { type: 'string' },
        filter: { type: 'string', multiple: true },
        'db-map': { type: 'string' },
        'rename-prefix': { type: 'string' },
        'write-mode': { type: 'string' },
        conflict: { type: 'string' },
        'big-key-threshold': { type: 'string' },
        'rate-keys': { type: 'string' },
        'rate-bytes': { type: 'string' },
        heartbeat: { type: 'boolean' },
        'task-id': { type: 'string' },
        'state-dir': { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    io.err(`ferry migrate: ${(err as Error).message}\n\n${MIGRATE_USAGE}`);
    return 2;
  }
  if (values.help) {
    io.out(MIGRATE_USAGE);
    return 0;
  }
  let task: Task;
  let stateDir: string;
  let spec: TaskSpec;
  try {
    const file = typeof values.config === 'string' ? loadConfig(values.config) : {};
    const sourceUrl = (values.source as string | undefined) ?? file.source?.url;
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
    for (const n of (values['source-node'] as string[] | undefined) ?? file.source?.nodes ?? [])
      nodes.push(parseNodeSpec(n, '--source-node'));
    if (nodes.length === 0)
      throw new FerryError(
        'CONFIG_INVALID',
        'give the source: --source redis://host:port or --source-node host:port[:password]',
      );
    const targetUrl = (values.target as string | undefined) ?? file.target?.url;
    if (!targetUrl) throw new FerryError('CONFIG_INVALID', 'give the target: --target redis://host:port');
    const target = parseRedisUrl(targetUrl, '--target').endpoint;
    const cluster = Boolean(values['target-cluster'] ?? file.target?.cluster);
    const options: TaskOptions = { ...(file.options ?? {}) };
    if (values.filter) options.filter = parseFilter(values.filter as string[]);
    if (values['db-map']) options.dbMap = parseDbMap(values['db-map'] as string);
    if (values['rename-prefix'] !== undefined) options.renamePrefix = values['rename-prefix'] as string;
    if (values['write-mode']) options.writeMode = values['write-mode'] as TaskOptions['writeMode'];
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
    const taskId =
      (values['task-id'] as string | undefined) ??
      file.taskId ??
      `m-${createHash('sha1')
        .update(`${nodes.map(endpointName).join(',')}>${endpointName(target)}${cluster ? ':cluster' : ''}`)
        .digest('hex')
        .slice(0, 12)}`;
    stateDir = resolve((values['state-dir'] as string | undefined) ?? '.ferry');
    spec = {
      id: taskId,
      source: { topology: 'standalone', options: { nodes } },
      target: { endpoint: target, cluster },
      options,
    };
    const engine = createEngine({
      plugins: [sourceStandalone()],
      checkpoints: new FileCheckpointStore((id) => join(stateDir, `${id}.checkpoint.json`)),
      spoolDir: join(stateDir, 'spool'),
    });
    task = engine.createTask(spec);
  } catch (err) {
    return reportError(err, io);
  }

  const json = Boolean(values.json);
  const tty = !json && Boolean((process.stderr as { isTTY?: boolean }).isTTY);
  const syncedForMs = (number(values['synced-for'] as string | undefined, '--synced-for') ?? 3) * 1000;
  const emit = (event: string, payload: unknown): void => {
    if (json) io.out(`${JSON.stringify({ event, ...(payload as object), at: new Date().toISOString() })}\n`);
  };
  task.events.onAny((event, payload) => {
    if (json) emit(event, payload);
    else if (event === 'task:warning')
      io.err(`ferry: warning: ${(payload as { message: string }).message}\n`);
    else if (event === 'shard:start') {
      const p = payload as { shardId: string; mode: string; offset: number; replid?: string };
      const how =
        p.mode === 'continue'
          ? `resumed at offset ${p.offset} (+CONTINUE)`
          : p.mode === 'sync'
            ? 'full sync through SYNC (an old server, or PSYNC disabled: a restart cannot resume)'
            : 'full sync: snapshot, then the live stream';
      io.err(`ferry: ${p.shardId}: ${how}\n`);
    } else if (event === 'task:error') {
      const p = payload as { message: string; retrying: boolean };
      if (p.retrying) io.err(`ferry: ${p.message}; retrying from the checkpoint\n`);
    }
  });

  // progress: redrawn lines on a TTY, a plain line every 2 s otherwise
  const started = Date.now();
  let last = { at: Date.now(), keys: 0, cmds: 0 };
  let drawn = 0;
  let syncedSince: number | undefined;
  let completing = false;
  const progress = setInterval(
    () => {
      const ms = task.metrics();
      const now = Date.now();
      const keys = ms.reduce((a, m) => a + m.keys, 0);
      const cmds = ms.reduce((a, m) => a + m.commands, 0);
      const dt = Math.max(0.001, (now - last.at) / 1000);
      const rate = { keys: Math.round((keys - last.keys) / dt), cmds: Math.round((cmds - last.cmds) / dt) };
      last = { at: now, keys, cmds };
      if (values['until-synced'] && !completing) {
        const synced =
          task.state === 'incremental_sync' &&
          ms.length > 0 &&
          ms.every((m) => m.phase === 'streaming' && m.lagBytes === 0);
        if (synced) {
          syncedSince ??= now;
          if (now - syncedSince >= syncedForMs) {
            completing = true;
            task.complete().catch(() => undefined);
          }
        } else syncedSince = undefined;
      }
      if (json || ms.length === 0) return;
      const lines = ms.map((m) => describeShard(m, rate, started));
      if (tty) {
        io.err(`${drawn ? `\x1b[${drawn}A` : ''}${lines.map((l) => `\x1b[2K${l}\n`).join('')}`);
        drawn = lines.length;
      } else if (Math.floor((now - started) / 500) % 4 === 0) {
        for (const l of lines) io.err(`ferry: ${l}\n`);
      }
    },
    tty ? 250 : 500,
  );

  let interrupted = false;
  const onSignal = (): void => {
    if (interrupted) return;
    interrupted = true;
    io.err('\nferry: stopping (the checkpoint is kept; run the same command again to resume)…\n');
    task.stop().catch(() => undefined);
  };
  signals.on('SIGINT', onSignal);
  signals.on('SIGTERM', onSignal);
  try {
    if (!json) {
      const src = (spec.source.options as { nodes: Endpoint[] }).nodes.map(endpointName).join(', ');
      io.err(
        `ferry: migrating ${src} → ${endpointName(spec.target.endpoint)}${spec.target.cluster ? ' (cluster)' : ''}, task ${task.id}, state in ${stateDir}\n`,
      );
    }
    await task.start();
    if (task.state === 'succeeded') {
      if (!json)
        io.err(`ferry: done: the target has everything the source had (task ${task.id} completed)\n`);
      return 0;
    }
    if (!json) io.err(`ferry: stopped at the checkpoint; run the same command to resume\n`);
    return interrupted ? 130 : 0;
  } catch (err) {
    return reportError(err, io);
  } finally {
    clearInterval(progress);
    signals.off('SIGINT', onSignal);
    signals.off('SIGTERM', onSignal);
  }
}

function reportError(err: unknown, io: Io): number {
  if (isFerryError(err)) {
    const h = hint(err);
    io.err(`ferry: ${err.message} [${err.code}]\n${h ? `  → ${h}\n` : ''}`);
    return err.code === 'CONFIG_INVALID' ? 2 : 1;
  }
  io.err(`ferry: ${(err as Error)?.stack ?? String(err)}\n`);
  return 1;
}
