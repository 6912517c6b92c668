import type { Endpoint } from '../endpoint.js';
import type {
  CheckInput,
  CheckPlugin,
  CheckResult,
  CheckStatus,
  PluginContext,
  ShardSpec,
} from '../plugins.js';

export type { CheckInput } from '../plugins.js';

import { Probe, unreachableReason } from './Probe.js';

/** What every check is given: the task's shards and target, its options, and the shared probe. */
export interface CheckReport {
  /** The worst status of all results. */
  status: CheckStatus;
  results: CheckResult[];
  /** Each check that ran: its worst status and how long it took (they run concurrently). */
  checks: Array<{ id: string; title: string; status: CheckStatus; durationMs: number }>;
  startedAt: string;
  durationMs: number;
}

const RANK: Record<CheckStatus, number> = { pass: 0, warn: 1, fail: 2 };

/** The worst of some statuses (pass when there are none). */
export function worstStatus(statuses: Iterable<CheckStatus>): CheckStatus {
  let worst: CheckStatus = 'pass';
  for (const s of statuses) if (RANK[s] > RANK[worst]) worst = s;
  return worst;
}

/** The shards read from a server (a backup file's are checked by its plugin's checks). */
export function servers(shards: ShardSpec[]): ShardSpec[] {
  return shards.filter((s) => !s.file);
}

/** The node a shard is read from: its first replica when it has one, else its primary. */
export function readNode(shard: ShardSpec): Endpoint {
  return shard.replicas[0] ?? shard.primary;
}

/** Each shard with the node it is read from. */
export function readNodes(shards: ShardSpec[]): Array<{ shard: ShardSpec; node: Endpoint }> {
  return servers(shards).map((shard) => ({ shard, node: readNode(shard) }));
}

/** Every node of the source: each shard's primary and replicas. */
export function sourceNodes(shards: ShardSpec[]): Array<{ shard: ShardSpec; node: Endpoint; role: string }> {
  return servers(shards).flatMap((shard) => [
    { shard, node: shard.primary, role: 'primary' },
    ...shard.replicas.map((node) => ({ shard, node, role: 'replica' })),
  ]);
}

/** The target's masters: every master of a cluster, or the target itself. */
export async function targetNodes(input: CheckInput): Promise<Endpoint[]> {
  if (!input.targetCluster) return [input.target];
  return (await input.probe.clusterMasters(input.target)) ?? [input.target];
}

export interface RunChecksOptions {
  /** A check still running after this is reported as a warn (it could not verify in time). Default 10 s. */
  timeoutMs?: number;
}

/**
 * Runs every check concurrently. A check that throws or runs out of time is reported as a warn
 * naming what it could not verify: never a silent pass, never a crash of the run.
 */
export async function runChecks(
  checks: CheckPlugin[],
  input: Omit<CheckInput, 'probe'> & { probe?: Probe },
  ctx: PluginContext,
  options: RunChecksOptions = {},
): Promise<CheckReport> {
  const started = Date.now();
  const timeoutMs = options.timeoutMs ?? 10_000;
  const probe = input.probe ?? new Probe(ctx.signal);
  const files = input.shards.filter((s) => s.file);
  const full: CheckInput = {
    ...input,
    shards: servers(input.shards),
    ...(files.length ? { files } : {}),
    probe,
  };
  try {
    const timings: CheckReport['checks'] = [];
    const settled = await Promise.all(
      checks.map(async (check): Promise<CheckResult[]> => {
        const t0 = Date.now();
        const results = await runOne(check);
        timings.push({
          id: check.id,
          title: check.title,
          status: worstStatus(results.map((r) => r.status)),
          durationMs: Date.now() - t0,
        });
        return results;
      }),
    );
    const results = settled.flat();
    return {
      status: worstStatus(results.map((r) => r.status)),
      results,
      checks: checks.map((c) => timings.find((t) => t.id === c.id) as CheckReport['checks'][number]),
      startedAt: new Date(started).toISOString(),
      durationMs: Date.now() - started,
    };
  } finally {
    if (!input.probe) probe.close();
  }

  async function runOne(check: CheckPlugin): Promise<CheckResult[]> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), timeoutMs);
    });
    try {
      const r = await Promise.race([check.run(full, ctx), late]);
      if (r === 'late')
        return [
          {
            checkId: check.id,
            status: 'warn',
            message: `${check.title}: did not finish within ${timeoutMs} ms, so it verified nothing`,
            advice: 'run the precheck again; if it keeps timing out, look at the nodes’ latency',
          },
        ];
      if (r.length === 0)
        return [{ checkId: check.id, status: 'pass', message: `${check.title}: nothing to check` }];
      return r.map((x) => ({ ...x, checkId: x.checkId || check.id }));
    } catch (err) {
      return [
        {
          checkId: check.id,
          status: 'warn',
          message: `${check.title}: could not run (${unreachableReason(err)}), so it verified nothing`,
        },
      ];
    } finally {
      clearTimeout(timer);
    }
  }
}
