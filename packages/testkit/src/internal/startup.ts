import { readFileSync } from 'node:fs';
import { TestkitError } from '../errors.js';
import type { ManagedProcess } from '../processes.js';

/** The last `lines` lines of a file; '' when it cannot be read. */
export function tailFile(path: string, lines: number): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/**
 * Waits for `ready` while watching the process: if it exits first, fails at once with its log
 * instead of waiting for the readiness timeout.
 */
export async function waitStarted(
  proc: ManagedProcess,
  name: string,
  log: () => string,
  ready: () => Promise<unknown>,
): Promise<void> {
  const exited = proc.exited.then((code) => {
    throw new TestkitError('TESTKIT_START_FAILED', `${name} exited (${code}) while starting:\n${log()}`);
  });
  exited.catch(() => {});
  await Promise.race([exited, ready()]);
}
