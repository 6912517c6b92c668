import { join } from 'node:path';
import {
  createEngine,
  type FerryPlugin,
  FileCheckpointStore,
  formatBytes as fmtBytes,
  type ShardMetrics,
  type Task,
  type TaskSpec,
} from '@ferry/core';
import { verifier } from '@ferry/verify';
import type { Io } from '../io.js';
import { lockCheckpoint } from '../lock.js';
import { sourcePlugins } from '../plugins.js';
import { buildTaskSpec, describeTask, number, parseTaskCommand, reportError } from '../task-args.js';

export const migrateUsage = (
  taskUsage: string,
): string => `Usage: ferry migrate --source URL --target URL [options]

Moves a live Redis to another server or to a Redis Cluster: the snapshot, then every write made
meanwhile, until you stop it (Ctrl-C keeps the checkpoint: run the same command again to resume)
or, with --until-synced, until the target has caught up.

${taskUsage}  --until-synced          complete and exit 0 once the target has applied everything the source
                          had (its master_repl_offset, read while streaming), then checked
  --synced-for SECONDS    and the lag stayed 0 this long first (default 0)
  --lease-ttl SECONDS     how long the task's lease on the target outlives this process, default 15
  --fresh                 start over: drop this task's checkpoint (a resume under other settings
                          is refused without it); the target must then pass the conflict policy
  --json                  one JSON event per line instead of the progress display
`;

function fmtCount(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
  return String(n);
}

/** The line cut to fit `columns` (one column spare, so the cursor never wraps), with "…" when cut. */
export function fitWidth(line: string, columns: number): string {
  const max = Math.max(10, columns - 1);
  const chars = [...line];
  return chars.length <= max ? line : `${chars.slice(0, max - 1).join('')}…`;
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
  plugins: FerryPlugin[] = sourcePlugins(),
  signals: NodeJS.EventEmitter = process,
): Promise<number> {
  const args = parseTaskCommand('migrate', argv, io, plugins, migrateUsage);
  if ('exit' in args) return args.exit;
  const { values } = args;
  let task: Task;
  let stateDir: string;
  let spec: TaskSpec;
  let unlock: (() => void) | undefined;
  try {
    ({ spec, stateDir } = buildTaskSpec(values, args.sources));
    const ttl = number(values['lease-ttl'] as string | undefined, '--lease-ttl');
    unlock = lockCheckpoint(join(stateDir, `${spec.id}.lock`), spec.id as string);
    const engine = createEngine({
      ...(ttl !== undefined ? { leaseTtlMs: ttl * 1000 } : {}),
      plugins,
      checkpoints: new FileCheckpointStore((id) => join(stateDir, `${id}.checkpoint.json`)),
      spoolDir: join(stateDir, 'spool'),
      verifier,
    });
    task = engine.createTask(spec);
  } catch (err) {
    unlock?.();
    return reportError(err, io);
  }
  try {
    return await follow(task, spec, describeTask(spec, args.sources), stateDir, values, io, signals);
  } finally {
    unlock?.();
  }
}

async function follow(
  task: Task,
  spec: TaskSpec,
  title: string,
  stateDir: string,
  values: Record<string, string | boolean | string[] | undefined>,
  io: Io,
  signals: NodeJS.EventEmitter,
): Promise<number> {
  const json = Boolean(values.json);
  const tty = !json && Boolean((process.stderr as { isTTY?: boolean }).isTTY);
  const syncedForMs = (number(values['synced-for'] as string | undefined, '--synced-for') ?? 0) * 1000;
  const emit = (event: string, payload: unknown): void => {
    if (json) io.out(`${JSON.stringify({ event, ...(payload as object), at: new Date().toISOString() })}\n`);
  };
  task.events.onAny((event, payload) => {
    if (json) emit(event, payload);
    else if (event === 'task:warning')
      io.err(`ferry: warning: ${(payload as { message: string }).message}\n`);
    else if (event === 'target:import-mode') io.err(`ferry: ${(payload as { message: string }).message}\n`);
    else if (event === 'shard:start') {
      const p = payload as { shardId: string; mode: string; offset: number; replid?: string };
      const file = spec.source.topology === 'file';
      const how =
        file && p.mode === 'continue'
          ? 'the file was written in full by an earlier run: checking it against the target'
          : file
            ? 'restoring the file'
            : p.mode === 'continue'
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
  /** --until-synced: completes once every shard is synced (see ShardMetrics.lagMeasuredAt). */
  const checkSynced = (ms: ReturnType<typeof task.metrics>, now: number): void => {
    if (!values['until-synced'] || completing) return;
    // synced from offsets: every shard's lag measured against the source's own offset since
    // its stream began, and 0 — no waiting for the source's next bytes (its PING)
    const synced =
      task.state === 'incremental_sync' &&
      ms.length > 0 &&
      ms.every((m) => m.phase === 'streaming' && m.lagMeasuredAt !== undefined && m.lagBytes === 0);
    if (synced) {
      syncedSince ??= now;
      if (now - syncedSince >= syncedForMs) {
        completing = true;
        if (json)
          io.out(
            `${JSON.stringify({
              event: 'synced',
              at: new Date(now).toISOString(),
              shards: ms.map((m) => ({
                shardId: m.shardId,
                sourceOffset: m.sourceOffset,
                receivedOffset: m.receivedOffset,
                appliedOffset: m.appliedOffset,
                measuredAt: new Date(m.lagMeasuredAt as number).toISOString(),
              })),
            })}\n`,
          );
        task.complete().catch(() => undefined);
      }
    } else syncedSince = undefined;
  };
  // decided as soon as a shard measures its lag (each second, and at once when its stream begins)
  task.events.on('stream:lag', () => checkSynced(task.metrics(), Date.now()));
  const progress = setInterval(
    () => {
      const ms = task.metrics();
      const now = Date.now();
      const keys = ms.reduce((a, m) => a + m.keys, 0);
      const cmds = ms.reduce((a, m) => a + m.commands, 0);
      const dt = Math.max(0.001, (now - last.at) / 1000);
      const rate = { keys: Math.round((keys - last.keys) / dt), cmds: Math.round((cmds - last.cmds) / dt) };
      last = { at: now, keys, cmds };
      checkSynced(ms, now);
      if (json || ms.length === 0) return;
      const lines = ms.map((m) => describeShard(m, rate, started));
      if (tty) {
        // a line wider than the terminal wraps, and the redraw below would then climb too few lines
        const width = (process.stderr as { columns?: number }).columns ?? 80;
        for (let i = 0; i < lines.length; i++) lines[i] = fitWidth(lines[i] as string, width);
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
      io.err(`ferry: migrating ${title}, task ${task.id}, state in ${stateDir}\n`);
    }
    await task.start({ fresh: Boolean(values.fresh) });
    if (task.state === 'succeeded') {
      // said only after the check against both servers that completing the task ran (done-check)
      const c = task.doneCheck;
      if (!json)
        io.err(
          c?.sourceKeys === undefined
            ? `ferry: task ${task.id} completed; ${c?.summary ?? 'not checked'}\n`
            : `ferry: done: task ${task.id} completed, checked against ${spec.source.topology === 'file' ? 'the file and the target' : 'both servers'}: ${c.summary}\n`,
        );
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
