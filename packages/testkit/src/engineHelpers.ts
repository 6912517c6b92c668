import type { Redis } from 'ioredis';
import { type WriteLoadOptions, type WriteLoadResult, writeLoad } from './data/writeLoad.js';
import type { AnyClient } from './internal/sink.js';
import type { RedisServer } from './servers/redis.js';

/**
 * Helpers for tests that run Ferry tasks. Typed structurally (what they read of a task), so the
 * testkit does not depend on the engine it tests.
 */
export interface TaskLike {
  state: string;
  error?: Error | undefined;
  metrics(): Array<{ phase: string; lagBytes: number; appliedOffset: number; sourceOffset: number }>;
  /** Ferry's TaskEmitter (typed per event there; only `on(name, listener)` is used here). */
  events: object;
}

type Listen = (event: string, listener: (payload: never) => void) => () => void;

function on<P>(task: TaskLike, event: string, listener: (payload: P) => void): () => void {
  const events = task.events as { on: Listen };
  return events.on.call(events, event, listener as (payload: never) => void);
}

interface StartEvent {
  shardId: string;
  mode: string;
  replid?: string;
  offset: number;
}

interface ErrorEvent {
  shardId?: string;
  code: string;
  message: string;
  retrying: boolean;
}

/** Collects a task's warnings, errors and shard starts, for assertions and failure messages. */
export function record(task: TaskLike): {
  warnings: string[];
  errors: ErrorEvent[];
  starts: StartEvent[];
  topology: string[];
} {
  const out = {
    warnings: [] as string[],
    errors: [] as ErrorEvent[],
    starts: [] as StartEvent[],
    topology: [] as string[],
  };
  on(task, 'task:warning', (w: { message: string }) => out.warnings.push(w.message));
  on(task, 'task:error', (e: ErrorEvent) => out.errors.push(e));
  on(task, 'shard:start', (s: StartEvent) => out.starts.push(s));
  on(task, 'topology:change', (t: { kind: string; message: string }) =>
    out.topology.push(`${t.kind}: ${t.message}`),
  );
  return out;
}

/** Resolves once every shard streams with no lag, for `quietMs` in a row. */
export async function untilSynced(task: TaskLike, quietMs = 1500, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let since: number | undefined;
  for (;;) {
    if (task.state === 'failed') throw task.error ?? new Error('task failed');
    const m = task.metrics();
    const synced =
      task.state === 'incremental_sync' &&
      m.length > 0 &&
      m.every((s) => s.phase === 'streaming' && s.lagBytes === 0 && s.appliedOffset >= s.sourceOffset);
    if (synced) {
      since ??= Date.now();
      if (Date.now() - since >= quietMs) return;
    } else since = undefined;
    if (Date.now() > deadline) throw new Error(`not synced after ${timeoutMs} ms: ${JSON.stringify(m)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Every key of a standalone server's current db that matches `pattern`, through all SCAN pages. */
export async function scanKeys(client: Redis, pattern: string): Promise<string[]> {
  const out: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    out.push(...keys);
  } while (cursor !== '0');
  return out;
}

/** Keys Ferry left on a target (it removes its own when a task completes), in dbs 0–15. */
export async function ferryKeys(target: RedisServer): Promise<string[]> {
  const c = target.client();
  const out: string[] = [];
  for (let db = 0; db < 16; db++) {
    await c.select(db);
    out.push(...(await c.keys('__ferry:*')).map((k) => `${db}:${k}`));
  }
  c.disconnect();
  return out;
}

/**
 * Runs `writeLoad` on the source from before the task starts until `afterMs` after the task has
 * reached incremental sync, so the load covers the whole snapshot phase and beyond. Resolves with
 * the load's result and whether it was still writing when the snapshot ended (it must be).
 */
export function loadAcrossSnapshot(
  client: AnyClient,
  task: TaskLike,
  options: Omit<WriteLoadOptions, 'durationMs' | 'signal'>,
  afterMs = 1500,
): { done: Promise<WriteLoadResult & { spannedSnapshot: boolean }> } {
  const stop = new AbortController();
  let spannedSnapshot = false;
  let loading = true;
  const off = on(task, 'task:state', (s: { to: string }) => {
    if (s.to === 'incremental_sync' && !stop.signal.aborted) {
      spannedSnapshot = loading;
      setTimeout(() => stop.abort(), afterMs);
    }
    if (s.to === 'failed' || s.to === 'stopped') stop.abort();
  });
  const done = writeLoad(client, { ...options, durationMs: 180_000, signal: stop.signal }).then((r) => {
    loading = false;
    off();
    return { ...r, spannedSnapshot };
  });
  return { done };
}
