import { isFerryError } from '@ferry/errors';
import { type CheckReport, type RunChecksOptions, runChecks } from './checks/runChecks.js';
import type { ResolvedOptions } from './options.js';
import type { PluginContext, PluginRegistry, ShardSpec } from './plugins.js';
import type { TaskSpec } from './task-spec.js';

/** What a task's precheck needs: the task, its plugins, and the context they run in. */
export interface PrecheckHost {
  taskId: string;
  spec: TaskSpec;
  options: ResolvedOptions;
  registry: PluginRegistry;
  spoolDir: string;
  ctx: PluginContext;
}

/**
 * Runs every registered check against the task's source and target (reads only). A source that
 * cannot be discovered (unreachable, wrong password, bad node list) is itself a failed check, so
 * the report always says what is wrong.
 */
export async function precheck(h: PrecheckHost, options: RunChecksOptions = {}): Promise<CheckReport> {
  const started = Date.now();
  const plugin = h.registry.topology(h.spec.source.topology);
  let shards: ShardSpec[];
  let report: CheckReport | undefined;
  try {
    shards = await plugin.discover(plugin.parseOptions(h.spec.source.options), h.ctx);
  } catch (err) {
    const e = err as Error;
    shards = [];
    report = {
      status: 'fail',
      results: [
        {
          checkId: 'connectivity',
          status: 'fail',
          message: `the source could not be discovered: ${e.message}`,
          advice: 'fix the source nodes (address, password, roles) and run the precheck again',
          details: { code: isFerryError(err) ? err.code : 'ERROR' },
        },
      ],
      checks: [],
      startedAt: new Date(started).toISOString(),
      durationMs: Date.now() - started,
    };
  }
  return (
    report ??
    (await runChecks(
      h.registry.checks(),
      {
        taskId: h.taskId,
        sourceTopology: h.spec.source.topology,
        shards,
        target: h.spec.target.endpoint,
        targetCluster: Boolean(h.spec.target.cluster),
        ...(h.spec.target.proxy ? { targetProxy: h.spec.target.proxy } : {}),
        options: h.options,
        spoolDir: h.spoolDir,
      },
      h.ctx,
      options,
    ))
  );
}
