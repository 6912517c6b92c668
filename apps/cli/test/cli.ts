import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RedisServer } from '@ferry/testkit';

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
