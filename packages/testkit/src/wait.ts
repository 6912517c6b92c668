import { setTimeout as sleep } from 'node:timers/promises';
import { TestkitError } from './errors.js';

export interface WaitOptions {
  /** What is awaited, for the timeout message ("redis 127.0.0.1:12000 to accept PING"). */
  what: string;
  timeoutMs?: number;
  intervalMs?: number;
  signal?: AbortSignal;
}

/**
 * Polls `probe` until it returns a value other than undefined/false. A probe that throws is retried;
 * its last error is quoted in the timeout error so a test failure says what was seen.
 */
export async function waitFor<T>(
  probe: () => Promise<T | undefined | false>,
  options: WaitOptions,
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 20_000);
  let lastError: unknown;
  let lastValue: unknown;
  for (;;) {
    options.signal?.throwIfAborted();
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
      lastValue = value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const seen =
        lastError !== undefined
          ? `; last error: ${lastError instanceof Error ? lastError.message : String(lastError)}`
          : `; last value: ${String(lastValue)}`;
      throw new TestkitError(
        'TESTKIT_TIMEOUT',
        `timed out after ${options.timeoutMs ?? 20_000} ms waiting for ${options.what}${seen}`,
        { cause: lastError },
      );
    }
    await sleep(options.intervalMs ?? 50, undefined, options.signal ? { signal: options.signal } : undefined);
  }
}
