import { endpointName } from './endpoint.js';
import type { TaskEvents } from './events.js';
import type { MovedKeys } from './moved.js';
import type { TopologyChange } from './plugins.js';
import type { ShardRunner } from './shard.js';

/** What following the source topology needs of the task. */
export interface WatchHost {
  taskId: string;
  runners: ShardRunner[];
  moved: MovedKeys;
  emit<E extends keyof TaskEvents>(event: E, payload: TaskEvents[E]): void;
  /** Pauses the task if it is syncing; whether it did. */
  pauseIfRunning(): boolean;
}

/**
 * Follows the source topology's changes while the shards run: a failover moves the shard's reader
 * to the new primary, slots moving are reported (or pause the task when the plugin says so), added
 * or removed shards are reported. A watcher that fails is an event, never the task's failure.
 */
export async function followTopology(
  h: WatchHost,
  changes: AsyncIterable<TopologyChange>,
  signal: AbortSignal,
): Promise<void> {
  const report = (kind: TaskEvents['topology:change']['kind'], message: string, shardId?: string): void => {
    h.emit('topology:change', {
      taskId: h.taskId,
      kind,
      message,
      ...(shardId ? { shardId } : {}),
    });
  };
  try {
    for await (const change of changes) {
      if (signal.aborted) break;
      if (change.kind === 'failover') {
        const runner = h.runners.find(
          (r) => r.metrics.shardId === change.shard.id || change.shard.aliases?.includes(r.metrics.shardId),
        );
        if (!runner) {
          report('failover', `${change.detail} (shard ${change.shard.id} is not one this task reads)`);
          continue;
        }
        const moved = runner.retarget(change.shard);
        report(
          'failover',
          moved
            ? `${change.detail}: reading from ${endpointName(runner.sourceEndpoint)} now, continuing the same replication history`
            : `${change.detail}: the link stays on ${endpointName(runner.sourceEndpoint)}`,
          runner.metrics.shardId,
        );
      } else if (change.kind === 'slots-moving') {
        report('slots-moving', change.detail, change.shardId);
        for (const slot of change.slots) h.moved.unsettledSlots.add(slot);
        if (change.pause && h.pauseIfRunning()) {
          h.emit('task:warning', {
            taskId: h.taskId,
            shardId: change.shardId,
            message: `paused: ${change.detail}. Resume once the slot migration has finished`,
          });
        }
      } else {
        report('shards-changed', change.detail);
        h.emit('task:warning', {
          taskId: h.taskId,
          message: `${change.detail}: this task keeps reading the shards it started with; keys on the new shards are not migrated until the task is started again`,
        });
      }
    }
  } catch (err) {
    if (!signal.aborted)
      report('watch-error', `the source topology is no longer watched: ${(err as Error).message}`);
  }
}
