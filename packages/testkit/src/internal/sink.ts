import type { Cluster, Redis } from 'ioredis';

export type AnyClient = Redis | Cluster;
export type Arg = string | number | Buffer;

export function isCluster(client: AnyClient): client is Cluster {
  return 'isCluster' in client && (client as { isCluster?: boolean }).isCluster === true;
}

/**
 * Sends many commands with a bounded number in flight and remembers the first failure.
 * Standalone clients get real pipelines (one socket write per batch); cluster clients send each
 * command on its own (ioredis routes it to its slot's node), with the same in-flight bound.
 */
export class CommandSink {
  private pipeline: ReturnType<Redis['pipeline']> | undefined;
  private batched = 0;
  private readonly inFlight = new Set<Promise<unknown>>();
  private failure: Error | undefined;
  sent = 0;

  constructor(
    private readonly client: AnyClient,
    private readonly batchSize = 512,
    private readonly maxInFlight = 4,
  ) {}

  /** Queues one command; waits when too much is in flight. Throws the first failure seen so far. */
  async send(name: string, ...args: Arg[]): Promise<void> {
    if (this.failure) throw this.failure;
    this.sent++;
    if (isCluster(this.client)) {
      await this.track(
        this.client.call(name, ...args).catch((err: Error) => this.fail(name, args, err)),
        this.batchSize,
      );
      return;
    }
    this.pipeline ??= this.client.pipeline();
    this.pipeline.call(name, ...args);
    if (++this.batched >= this.batchSize) await this.flushBatch();
  }

  /**
   * Sends a command after everything before it has been answered, and waits for its own reply.
   * On a cluster, ioredis may first route a command whose key is not its first argument (XGROUP,
   * XREADGROUP) to another node and follow MOVED, which would reorder it against its neighbours.
   */
  async sendOrdered(name: string, ...args: Arg[]): Promise<void> {
    if (!isCluster(this.client)) return this.send(name, ...args);
    await this.flush();
    this.sent++;
    await this.client.call(name, ...args).catch((err: Error) => this.fail(name, args, err));
    if (this.failure) throw this.failure;
  }

  private fail(name: string, args: Arg[], err: Error): void {
    const key = args[0] === undefined ? '' : ` ${String(args[0]).slice(0, 80)}`;
    this.failure ??= new Error(`${name}${key} failed: ${err.message}`, { cause: err });
  }

  private async track(p: Promise<unknown>, limit: number): Promise<void> {
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
    while (this.inFlight.size >= limit) await Promise.race(this.inFlight);
  }

  private async flushBatch(): Promise<void> {
    const pipeline = this.pipeline;
    if (!pipeline) return;
    this.pipeline = undefined;
    this.batched = 0;
    const done = pipeline.exec().then((results) => {
      for (const [err] of results ?? []) {
        if (err) {
          this.failure ??= err;
          return;
        }
      }
    });
    await this.track(done, this.maxInFlight);
  }

  /** Sends what is queued and waits for every reply; throws the first failure. */
  async flush(): Promise<void> {
    await this.flushBatch();
    await Promise.all(this.inFlight);
    if (this.failure) throw this.failure;
  }
}
