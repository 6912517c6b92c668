import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { testkitSubdir } from './internal/paths.js';
import { processStartTicks, sameProcess } from './internal/proc.js';
import { reapStalePortLocks, releaseAllPortsSync } from './ports.js';
import { reapOrphanDirs, removeOwnedDirsSync } from './tempdir.js';

export { isProcessAlive } from './internal/proc.js';

/**
 * Every process the harness starts is recorded twice: in memory (so this process kills them when it
 * exits, fails or is interrupted) and in a registry file (so a later run reaps what a SIGKILLed
 * owner left behind).
 */
interface RegistryEntry {
  pid: number;
  owner: number;
  /** /proc start time of `pid`, so a recycled PID is never killed by mistake. */
  startTicks: string | null;
  ownerStartTicks: string | null;
  label: string;
  command: string;
}

export interface ManagedProcess {
  readonly pid: number;
  readonly label: string;
  readonly child: ChildProcess;
  /** Resolves with the exit code (or signal name) once the process has ended. */
  readonly exited: Promise<number | string>;
  /** True until the process has ended. */
  running(): boolean;
  /** Signals the process and waits for it to end; SIGKILL after `graceMs`. Idempotent. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
}

const live = new Map<number, ManagedProcess>();
let handlersInstalled = false;

function registryDir(): string {
  return testkitSubdir('procs');
}

function killSync(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

/** Kills every process this process started and still runs; synchronous so it works in 'exit'. */
export function killAllSync(): void {
  for (const pid of live.keys()) {
    killSync(pid, 'SIGKILL');
    rmSync(join(registryDir(), `${pid}.json`), { force: true });
  }
  live.clear();
  removeOwnedDirsSync();
  releaseAllPortsSync();
}

/** Installs the exit/interrupt handlers once; every start path calls it. */
export function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', killAllSync);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const handler = (): void => {
      killAllSync();
      process.removeListener(signal, handler);
      // Re-raise so the default behaviour (or the other listeners) still happen.
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    };
    process.on(signal, handler);
  }
}

/**
 * Kills processes recorded by owners that no longer exist (a test runner killed with SIGKILL).
 * Returns the PIDs it killed. Runs automatically before every start.
 */
export function reapOrphans(): number[] {
  const dir = registryDir();
  const reaped: number[] = [];
  for (const name of readdirSync(dir)) {
    if (!name.endsWith('.json')) continue;
    const file = join(dir, name);
    let entry: RegistryEntry;
    try {
      entry = JSON.parse(readFileSync(file, 'utf8')) as RegistryEntry;
    } catch {
      continue; // being written right now, or foreign
    }
    if (sameProcess(entry.owner, entry.ownerStartTicks)) continue;
    if (sameProcess(entry.pid, entry.startTicks)) {
      killSync(entry.pid, 'SIGKILL');
      reaped.push(entry.pid);
    }
    rmSync(file, { force: true });
  }
  reapOrphanDirs((pid, ticks) => sameProcess(pid, ticks));
  reapStalePortLocks();
  return reaped;
}

/** PIDs this process started that are still running. */
export function livePids(): number[] {
  return [...live.keys()];
}

export interface SpawnManagedOptions extends Pick<SpawnOptions, 'cwd' | 'env' | 'uid' | 'gid'> {
  label: string;
  /** A file that receives stdout and stderr (appended); discarded when absent. */
  outputFile?: string;
}

/** Starts a child process that the harness owns: registered, killed on exit/interrupt, reaped if orphaned. */
export function spawnManaged(command: string, args: string[], options: SpawnManagedOptions): ManagedProcess {
  installHandlers();
  reapOrphans();
  const out = options.outputFile ? openSync(options.outputFile, 'a') : 'ignore';
  let child: ChildProcess;
  try {
    child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      uid: options.uid,
      gid: options.gid,
      stdio: ['ignore', out, out],
    });
  } finally {
    if (typeof out === 'number') closeSync(out);
  }
  const pid = child.pid;
  if (pid === undefined) {
    // spawn failed synchronously (ENOENT, EACCES): surface the error event's reason
    throw new Error(`cannot start ${command}: spawn failed`);
  }
  let ended = false;
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      ended = true;
      live.delete(pid);
      rmSync(join(registryDir(), `${pid}.json`), { force: true });
      resolve(code ?? signal ?? 'unknown');
    });
  });
  child.once('error', () => {
    // 'exit' may never come after a spawn error; treat the process as gone.
    if (!ended) {
      ended = true;
      live.delete(pid);
      rmSync(join(registryDir(), `${pid}.json`), { force: true });
    }
  });
  const entry: RegistryEntry = {
    pid,
    owner: process.pid,
    startTicks: processStartTicks(pid),
    ownerStartTicks: processStartTicks(process.pid),
    label: options.label,
    command: [command, ...args].join(' '),
  };
  writeFileSync(join(registryDir(), `${pid}.json`), JSON.stringify(entry));
  const proc: ManagedProcess = {
    pid,
    label: options.label,
    child,
    exited,
    running: () => !ended,
    async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 10_000) {
      if (ended) {
        await exited;
        return;
      }
      killSync(pid, signal);
      const timer = setTimeout(() => killSync(pid, 'SIGKILL'), graceMs);
      try {
        await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
  live.set(pid, proc);
  return proc;
}
