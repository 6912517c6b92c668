import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type CheckPlugin,
  type CheckReport,
  type CheckResult,
  createEngine,
  type Endpoint,
  type FerryPlugin,
  type TaskOptions,
} from '@ferry/core';
import { sourceStandalone } from '@ferry/source-standalone';
import type { RedisServer } from '@ferry/testkit';
import { expect } from 'vitest';
import { builtinChecks } from '../src/index.js';

export function endpointOf(s: RedisServer, extra: Partial<Endpoint> = {}): Endpoint {
  return { host: s.host, port: s.port, ...(s.password ? { password: s.password } : {}), ...extra };
}

export interface CheckRun {
  source?: Endpoint[];
  target: Endpoint;
  targetCluster?: boolean;
  targetProxy?: 'twemproxy' | 'codis';
  options?: TaskOptions;
  /** Other plugins (a source topology, third-party checks); the built-in checks are always there. */
  plugins?: FerryPlugin[];
  topology?: { topology: string; options: unknown };
  spoolDir?: string;
  checks?: CheckPlugin[];
}

/** Runs the precheck of a task as `ferry check` would, and returns the report. */
export async function precheck(run: CheckRun): Promise<CheckReport> {
  const spoolDir = run.spoolDir ?? mkdtempSync(join(tmpdir(), 'ferry-check-spool-'));
  const engine = createEngine({
    plugins: [
      ...(run.topology ? [] : [sourceStandalone()]),
      ...(run.checks ?? builtinChecks()),
      ...(run.plugins ?? []),
    ],
    spoolDir,
  });
  const task = engine.createTask({
    id: `check-${Date.now()}`,
    source: run.topology ?? { topology: 'standalone', options: { nodes: run.source ?? [] } },
    target: {
      endpoint: run.target,
      cluster: Boolean(run.targetCluster),
      ...(run.targetProxy ? { proxy: run.targetProxy } : {}),
    },
    ...(run.options ? { options: run.options } : {}),
  });
  const report = await task.check();
  expect(task.state).toBe(report.status === 'fail' ? 'check_failed' : 'check_passed');
  return report;
}

/** The results of one check. */
export function of(report: CheckReport, id: string): CheckResult[] {
  return report.results.filter((r) => r.checkId === id);
}

/** The worst status one check gave. */
export function statusOf(report: CheckReport, id: string): string {
  return report.checks.find((c) => c.id === id)?.status ?? 'missing';
}

/** For failure messages: the report as lines. */
export function show(report: CheckReport): string {
  return report.results.map((r) => `${r.status} ${r.checkId}: ${r.message}`).join('\n');
}
