// What the contract suites share: a plugin context that records events, a short-lived client.
import type { Endpoint, PluginContext } from '@ferry/plugin-sdk';
import { Redis } from 'ioredis';

/** A plugin context for a suite's calls; the events emitted are kept. */
export function pluginContext(
  signal: AbortSignal = new AbortController().signal,
): PluginContext & { events: string[] } {
  const events: string[] = [];
  return {
    taskId: 'contract',
    signal,
    log: { debug() {}, info() {}, warn() {} },
    emit: (event) => events.push(event),
    events,
  };
}

/** Runs `fn` with a client of `e`, closed after. */
export async function withNode<T>(e: Endpoint, fn: (c: Redis) => Promise<T>): Promise<T> {
  const c = new Redis({
    host: e.host,
    port: e.port,
    ...(e.username ? { username: e.username } : {}),
    ...(e.password ? { password: e.password } : {}),
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
  });
  try {
    await c.connect();
    return await fn(c);
  } finally {
    c.disconnect();
  }
}
