import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createEngine,
  type Endpoint,
  type Engine,
  MemoryCheckpointStore,
  type Task,
  type TaskEvents,
  type TaskSpec,
} from '@ferry/core';
import { type RedisServer, type WriteLoadOptions, type WriteLoadResult, writeLoad } from '@ferry/testkit';
import { sourceStandalone } from '../src/index.js';

export function endpointOf(s: RedisServer): Endpoint {
  return { host: s.host, port: s.port, ...(s.password ? { password: s.password } : {}) };
}

export function engine(checkpoints = new MemoryCheckpointStore()): Engine {
  return createEngine({
    plugins: [sourceStandalone()],
    checkpoints,
    spoolDir: mkdtempSync(join(tmpdir(), 'ferry-spool-')),
  });
}

export function spec(
  source: RedisServer | Endpoint,
  target: Endpoint,
  extra: Partial<TaskSpec> = {},
): TaskSpec {
  const src = 'endpoint' in source ? endpointOf(source) : source;
  return {
    id: extra.id ?? `t${Date.now()}`,
    source: { topology: 'standalone', options: { nodes: [src] } },
    target: { endpoint: target },
    ...extra,
  };
}

/** Collects a task's warnings and errors, for assertions and failure messages. */
export function record(task: Task): {
  warnings: string[];
  errors: Array<TaskEvents['task:error']>;
  starts: Array<TaskEvents['shard:start']>;
} {
  const out = {
    warnings: [] as string[],
    errors: [] as Array<TaskEvents['task:error']>,
    starts: [] as Array<TaskEvents['shard:start']>,
  };
  task.events.on('task:warning', (w) => out.warnings.push(w.message));
  task.events.on('task:error', (e) => out.errors.push(e));
  task.events.on('shard:start', (s) => out.starts.push(s));
  return out;
}

/** Resolves once every shard streams with no lag, for `quietMs` in a row. */
export async function untilSynced(task: Task, quietMs = 1500, timeoutMs = 120_000): Promise<void> {
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
  client: Parameters<typeof writeLoad>[0],
  task: Task,
  options: Omit<WriteLoadOptions, 'durationMs' | 'signal'>,
  afterMs = 1500,
): { done: Promise<WriteLoadResult & { spannedSnapshot: boolean }> } {
  const stop = new AbortController();
  let spannedSnapshot = false;
  let loading = true;
  const off = task.events.on('task:state', (s) => {
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
