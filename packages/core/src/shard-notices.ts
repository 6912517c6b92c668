import type { ShardMetrics, TaskEvents } from './events.js';

type Emit = <E extends keyof TaskEvents>(event: E, payload: TaskEvents[E]) => void;

/**
 * A shard's warnings: each message once per shard, and the commands the target cannot take counted
 * in the shard's metrics (an event per message for the first 1000, then one saying so).
 */
export class ShardNotices {
  private readonly warned = new Set<string>();
  private unsupportedShown = 0;

  constructor(
    private readonly emit: Emit,
    private readonly taskId: string,
    private readonly shardId: string,
    private readonly metrics: ShardMetrics,
  ) {}

  /** A `task:warning` event, unless this message was said already. */
  warn(message: string, key?: Buffer, command?: string): void {
    if (this.warned.has(message)) return;
    this.warned.add(message);
    this.emit('task:warning', {
      taskId: this.taskId,
      shardId: this.shardId,
      message,
      ...(key ? { key: key.toString('latin1') } : {}),
      ...(command ? { command } : {}),
    });
  }

  /** A command the target cannot take: an event per key and command (the first 1000), counted always. */
  unsupported(message: string, key: Buffer | undefined, command: string): void {
    this.metrics.unsupported = this.metrics.unsupported ?? {};
    this.metrics.unsupported[command] = (this.metrics.unsupported[command] ?? 0) + 1;
    if (this.warned.has(message)) return;
    if (this.unsupportedShown++ < 1000) this.warn(message, key, command);
    else if (this.unsupportedShown === 1001)
      this.warn(
        'more commands the target cannot take were not applied: their counts are in the shard metrics (unsupported)',
      );
  }
}
