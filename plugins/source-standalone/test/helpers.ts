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
import type { RedisServer } from '@ferry/testkit';
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
