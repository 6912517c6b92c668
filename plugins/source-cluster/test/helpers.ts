import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEngine, type Endpoint, type Engine, MemoryCheckpointStore, type TaskSpec } from '@ferry/core';
import type { RedisCluster } from '@ferry/testkit';
import { sourceCluster } from '../src/index.js';

export function engine(checkpoints = new MemoryCheckpointStore()): Engine {
  return createEngine({
    plugins: [sourceCluster()],
    checkpoints,
    spoolDir: mkdtempSync(join(tmpdir(), 'ferry-spool-')),
  });
}

/** The cluster's first seed, with its password. */
export function seedOf(c: RedisCluster): Endpoint {
  const s = c.seeds[0];
  if (!s) throw new Error('cluster without nodes');
  return { host: s.host, port: s.port, ...(s.password ? { password: s.password } : {}) };
}

export function clusterSpec(
  source: RedisCluster,
  target: { endpoint: Endpoint; cluster?: boolean },
  extra: Partial<TaskSpec> & { sourceOptions?: Record<string, unknown> } = {},
): TaskSpec {
  const { sourceOptions, ...rest } = extra;
  return {
    id: `t${Date.now()}`,
    source: {
      topology: 'cluster',
      options: { nodes: [seedOf(source)], watchIntervalMs: 250, ...sourceOptions },
    },
    target,
    ...rest,
  };
}
