import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEngine, type Endpoint, type Engine, MemoryCheckpointStore, type TaskSpec } from '@ferry/core';
import type { RedisServer } from '@ferry/testkit';
import { sourceStandalone } from '../src/index.js';

export function endpointOf(s: RedisServer): Endpoint {
  return { host: s.host, port: s.port, ...(s.password ? { password: s.password } : {}) };
}

export function engine(checkpoints = new MemoryCheckpointStore(), o: { leaseTtlMs?: number } = {}): Engine {
  return createEngine({
    plugins: [sourceStandalone()],
    checkpoints,
    spoolDir: mkdtempSync(join(tmpdir(), 'ferry-spool-')),
    ...o,
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

export { ferryKeys, loadAcrossSnapshot, record, untilSynced } from '@ferry/testkit';
