import type { ShardReader } from '@ferry/plugin-sdk';
import type { ShardMetrics } from './events.js';
import type { ShardContext } from './shard-context.js';
import { StreamBatch, type StreamHost } from './stream-batch.js';

const STREAM_BATCH = 512;
const MAX_BATCHES_IN_FLIGHT = 64;

interface Pending {
  offset: number;
  /** Source db selected at that offset (a resumed stream does not start with SELECT). */
  db: number;
  done: Promise<void>;
}

/** What applying a shard's stream needs of the shard. */
export interface ApplyHost {
  ctx: Pick<ShardContext, 'gate' | 'signal' | 'limiter'>;
  metrics: ShardMetrics;
  /** What each batch of the stream is routed and checkpointed by (the shard runner). */
  batchHost: StreamHost;
  /** The current pass (a retry is a new one): an older pass's acknowledgements move nothing. */
  currentPass(): number;
  /** The pass's failure, from here or elsewhere. */
  failed(): Error | undefined;
  fail(err: unknown): void;
  /** Counts a write among the pass's writes in flight (the next pass waits for them). */
  track(p: Promise<void>): Promise<void>;
  /** Stop at the next command (a stop), or once everything read is applied (a completion). */
  stopRequested(): boolean;
  completeRequested(): boolean;
  /** Resolves at the next stop or completion request. */
  requested(): Promise<void>;
  /** The position applied so far, and its move forward once the target acknowledged up to `offset`. */
  appliedOffset(): number;
  applied(offset: number, db: number): void;
  saveCheckpoint(): Promise<void>;
}

/**
 * A shard's stream applied to the target for one pass: read from the reader in batches, sent in
 * order with at most MAX_BATCHES_IN_FLIGHT unacknowledged, the applied position moved over each
 * batch only once the target acknowledged it and every one before it.
 */
export class StreamApplier {
  private readonly queue: Pending[] = [];
  private advancing = false;

  constructor(
    private readonly h: ApplyHost,
    private readonly pass: number,
  ) {}

  /** Applies the stream until the reader ends, a stop, or a completion once caught up. */
  async run(reader: ShardReader): Promise<void> {
    const { h, queue, pass } = this;
    const { ctx } = h;
    let batch = new StreamBatch(h.batchHost);
    let timer: NodeJS.Timeout | undefined;
    const flush = (): void => {
      if (timer) {
        clearTimeout(timer);
        timer = undefined;
      }
      if (batch.inTransaction || batch.empty) return;
      const b = batch;
      batch = new StreamBatch(h.batchHost);
      const done = h.track(
        b.send().catch((err: unknown) => {
          if (pass === h.currentPass()) h.fail(err);
        }),
      );
      queue.push({ offset: b.lastOffset, db: h.batchHost.sourceDb, done });
      void this.advance();
    };
    const it = reader.commandBatches(ctx.signal)[Symbol.asyncIterator]();
    try {
      for (;;) {
        const failed = h.failed();
        if (failed) throw failed;
        if (h.stopRequested() || (h.completeRequested() && this.caughtUp(reader))) break;
        const gate = ctx.gate();
        if (gate) {
          flush();
          await gate;
          continue;
        }
        const next = await nextOrIdle(it, 200, h.requested());
        if (next === IDLE) {
          flush();
          continue;
        }
        if (next.done) break;
        const paused = ctx.gate(); // paused while this read was pending: hold it until resumed
        if (paused) {
          flush();
          await paused;
        }
        if (h.stopRequested()) break;
        // what the spool held at this read: applied as it comes, in units of STREAM_BATCH commands
        for (const cmd of next.value) {
          batch.add(cmd);
          if (batch.size >= STREAM_BATCH) {
            flush();
            while (queue.length >= MAX_BATCHES_IN_FLIGHT) await queue[0]?.done;
          }
        }
        h.metrics.commands += next.value.length;
        flush();
        // a source transaction cut by the read is sent once its EXEC arrives
        if (batch.inTransaction && !timer) timer = setTimeout(flush, 2);
        while (queue.length >= MAX_BATCHES_IN_FLIGHT) await queue[0]?.done;
        if (ctx.limiter.active) await ctx.limiter.take(next.value.length, 0, ctx.signal);
      }
      flush();
      await Promise.all(queue.map((p) => p.done));
      await this.advance();
      const failed = h.failed();
      if (failed) throw failed;
      await h.saveCheckpoint();
    } finally {
      if (timer) clearTimeout(timer);
      // a read still waits for the source's next bytes (its PING, up to 10 s away): the reader is
      // done with once the stream ends, so it is closed first and the read ends at once (a stop
      // answers within a second, not at the source's next PING)
      reader.close();
      await it.return?.(undefined);
    }
  }

  /** Everything read, and everything the source has, is applied. */
  private caughtUp(reader: ShardReader): boolean {
    const applied = this.h.appliedOffset();
    return applied >= reader.offset && applied >= this.h.metrics.sourceOffset;
  }

  /** Moves the applied offset over the batches the target has acknowledged, in order. */
  private async advance(): Promise<void> {
    if (this.advancing) return;
    this.advancing = true;
    const { h, queue, pass } = this;
    try {
      while (queue.length > 0) {
        const head = queue[0] as Pending;
        await head.done;
        if (h.failed() || pass !== h.currentPass()) return;
        if (head.offset > h.appliedOffset()) h.applied(head.offset, head.db);
        h.metrics.appliedOffset = h.appliedOffset();
        queue.shift();
      }
    } finally {
      this.advancing = false;
    }
  }
}

const IDLE = Symbol('idle');

/**
 * The iterator's next value, or IDLE when none came within `ms` or `wake` resolved first (the
 * pending next() is kept).
 */
function nextOrIdle<T>(
  it: AsyncIterator<T>,
  ms: number,
  wake: Promise<void>,
): Promise<IteratorResult<T> | typeof IDLE> {
  const pending = (it as { pendingNext?: Promise<IteratorResult<T>> }).pendingNext ?? it.next();
  (it as { pendingNext?: Promise<IteratorResult<T>> }).pendingNext = pending;
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    pending.then((r) => {
      (it as { pendingNext?: Promise<IteratorResult<T>> }).pendingNext = undefined;
      return r;
    }),
    new Promise<typeof IDLE>((r) => {
      timer = setTimeout(() => r(IDLE), ms);
    }),
    wake.then((): typeof IDLE => IDLE),
  ]).finally(() => clearTimeout(timer));
}

/** A promise and its resolve: a request (stop, completion) the applier looks at once, not at its next idle poll. */
export function wakeUp(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}
