import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type RedisServer, resolveRedisBuild, waitFor } from '@ferry/testkit';

/** The built CLI the tests run, as a user would. */
export const bin = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'ferry.js');

/** `redis://[:password@]host:port` of a test server (its own password unless another is given). */
export function url(s: RedisServer, password = s.password): string {
  return `redis://${password ? `:${encodeURIComponent(password)}@` : ''}${s.host}:${s.port}`;
}

/** Runs `ferry <args>` to its end; `code` is null when the timeout killed it. */
export function runFerry(
  args: string[],
  timeoutMs = 120_000,
): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [bin, ...args],
      { timeout: timeoutMs, maxBuffer: 64 << 20 },
      (err, stdout, stderr) => {
        const e = err as (Error & { code?: number; killed?: boolean }) | null;
        resolve({
          code: e ? (e.killed ? null : (e.code ?? null)) : 0,
          stdout,
          stderr,
          ms: Date.now() - started,
        });
      },
    );
  });
}

/** `ferry migrate … --json` in the background (added to `children`), its events collected. */
export function ferryBackground(
  args: string[],
  children: ChildProcess[],
): { child: ChildProcess; events: Array<Record<string, unknown>>; stderr: () => string } {
  const child = spawn(process.execPath, [bin, 'migrate', '--json', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const events: Array<Record<string, unknown>> = [];
  let buf = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => {
    buf += d.toString();
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      events.push(JSON.parse(buf.slice(0, nl)) as Record<string, unknown>);
      buf = buf.slice(nl + 1);
    }
  });
  child.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
  });
  return { child, events, stderr: () => err };
}

/** A fresh state folder (checkpoints, spool) for one run. */
export function stateDir(): string {
  return mkdtempSync(join(tmpdir(), 'ferry-state-'));
}

/** The exit code of `child`, whether it has exited already or not. */
export function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((r) =>
    child.exitCode !== null ? r(child.exitCode) : child.once('exit', (code) => r(code)),
  );
}

/** Waits until a background run's task streams (its `incremental_sync` state event). */
export async function streaming(run: { events: Array<Record<string, unknown>> }): Promise<void> {
  await waitFor(async () => run.events.some((e) => e.event === 'task:state' && e.to === 'incremental_sync'), {
    what: 'the migration to stream',
    timeoutMs: 60_000,
  });
}

/** The version of the build `wanted` names ("8.6", "valkey-9.1"), or undefined where there is none. */
export function buildVersion(wanted: string): string | undefined {
  try {
    return resolveRedisBuild(wanted).version;
  } catch {
    return undefined;
  }
}
