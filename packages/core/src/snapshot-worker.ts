/**
 * A shard's snapshot written on a thread of its own: the same `SnapshotWriter` as on the task's
 * thread, over the spool file the task's link writes, with its own parser and its own target
 * connections. Several shards then parse and encode in parallel (one thread cannot feed three
 * masters' worth of RESTOREs). The task's thread keeps the link, the state machine, checkpoints
 * and events; it tells this thread how far the spool file is written, pauses, rate and abort, and
 * hears back metrics, warnings and the outcome.
 *
 * Protocol (main → worker): `{ t: 'avail', n }` bytes of payload are in the file, `{ t: 'end', n }`
 * the payload is n bytes, `pause` / `resume`, `{ t: 'rate', limit }`, `abort`.
 * (worker → main): `opened` (the file is held open: it may be removed), `{ t: 'metrics', m }`,
 * `{ t: 'event', name, payload }`, `{ t: 'done', m, restoreAllowed }`, `{ t: 'failed', … }`.
 */
import { open } from 'node:fs/promises';
import { parentPort, workerData } from 'node:worker_threads';
import { isFerryError } from '@ferry/errors';
import { endpointName } from './endpoint.js';
import { newShardMetrics, type ShardMetrics } from './events.js';
import { OwnKeys } from './ferry-keys.js';
import { KeyMapper } from './keys.js';
import { RateLimiter } from './limiter.js';
import { MovedKeys } from './moved.js';
import type { RateLimit, ResolvedOptions } from './options.js';
import type { ShardSpec } from './plugins.js';
import { pickSource, type WorkerTarget } from './shard-context.js';
import { ShardNotices } from './shard-notices.js';
import { SlotOwners } from './slot-owners.js';
import { SnapshotWriter } from './snapshot-writer.js';
import { TargetWriter } from './target/writer.js';
import { WritesInFlight } from './writes-in-flight.js';

/** What a snapshot worker is started with (all of it structured-cloneable). */
export interface SnapshotWorkerData {
  taskId: string;
  shard: ShardSpec;
  shardCount: number;
  target: WorkerTarget;
  options: ResolvedOptions;
  /** This shard's part of the task's rate limit. */
  rate: RateLimit;
  forceDb0: boolean;
  spoolDir: string;
  path: string;
  snapshotBytes?: number;
  replace: boolean;
  /** Whether RESTORE may be used (false once the target refused one: the rewrite path). */
  restoreAllowed: boolean;
}

export type WorkerMessage =
  | { t: 'opened' }
  /** A key outside the shard's slots is about to be written (see MovedKeys.strays). */
  | { t: 'stray' }
  /** The snapshot writes to this target db for the first time (before it does). */
  | { t: 'db'; db: number }
  | { t: 'metrics'; m: Partial<ShardMetrics> }
  | { t: 'event'; name: string; payload: unknown }
  | { t: 'done'; m: Partial<ShardMetrics>; restoreAllowed: boolean }
  | { t: 'failed'; code: string | undefined; message: string };

/** The counters a worker reports (the task's thread owns the rest of a shard's metrics). */
export function workerCounters(m: ShardMetrics): Partial<ShardMetrics> {
  return {
    keys: m.keys,
    skippedKeys: m.skippedKeys,
    snapshotBytes: m.snapshotBytes,
    snapshotWriteMs: m.snapshotWriteMs,
    errors: { ...m.errors },
  };
}

async function main(): Promise<void> {
  const port = parentPort;
  if (!port) throw new Error('snapshot-worker.js runs as a worker thread');
  const d = workerData as SnapshotWorkerData;
  const post = (m: WorkerMessage): void => port.postMessage(m);
  const controller = new AbortController();
  let available = 0;
  let end: number | undefined;
  let wake: (() => void) | undefined;
  let paused: { promise: Promise<void>; release: () => void } | undefined;
  const limiter = new RateLimiter(d.rate);
  port.on('message', (m: { t: string; n?: number; limit?: RateLimit }) => {
    if (m.t === 'avail') available = m.n as number;
    else if (m.t === 'end') end = available = m.n as number;
    else if (m.t === 'abort') controller.abort(new Error('the snapshot was cut'));
    else if (m.t === 'rate') limiter.set(m.limit as RateLimit);
    else if (m.t === 'pause' && !paused) {
      let release!: () => void;
      const promise = new Promise<void>((r) => (release = r));
      paused = { promise, release };
    } else if (m.t === 'resume') {
      paused?.release();
      paused = undefined;
    }
    wake?.();
  });
  // The writer does not listen to `controller`: an abort stops the loop, and what was already sent
  // still gets its replies before the connections close (a retry may empty the target next, on
  // other connections: nothing of this thread may land after that).
  const writer = await TargetWriter.open({ ...d.target });
  const mapper = new KeyMapper(d.options.dbMap, d.options.renamePrefix, d.options.filter, d.forceDb0);
  const metrics = newShardMetrics(d.shard.id);
  const notices = new ShardNotices(
    (name, payload) => post({ t: 'event', name, payload }),
    d.taskId,
    d.shard.id,
    metrics,
  );
  const moved = new MovedKeys(undefined, () => post({ t: 'stray' }));
  const wrote = new Set<number>();
  const work = new WritesInFlight();
  const snapshot = new SnapshotWriter(
    {
      ctx: {
        taskId: d.taskId,
        shard: d.shard,
        writer,
        mapper,
        options: d.options,
        limiter,
        signal: controller.signal,
        gate: () => paused?.promise,
      },
      metrics,
      own: new OwnKeys(d.options.reservedPrefix),
      notices,
      owners: new SlotOwners(
        d.shard,
        d.shardCount,
        moved,
        notices,
        () => `${d.shard.id} (${endpointName(pickSource(d.shard))})`,
      ),
      noteDb: (db) => {
        if (wrote.has(db)) return;
        wrote.add(db);
        post({ t: 'db', db });
      },
      track: (p) => void work.add(p),
    },
    d.restoreAllowed,
  );
  const file = await open(d.path, 'r');
  // the payload as the task's thread says it is written: read in pieces of up to 1 MB
  async function* follow(): AsyncGenerator<Buffer> {
    let pos = 0;
    for (;;) {
      controller.signal.throwIfAborted();
      if (pos < available) {
        const n = Math.min(available - pos, 1 << 20);
        const buf = Buffer.allocUnsafe(n);
        const { bytesRead } = await file.read(buf, 0, n, pos);
        if (bytesRead === 0)
          throw new Error(`snapshot spool ${d.path} ends at ${pos}, ${available} expected`);
        pos += bytesRead;
        yield bytesRead === n ? buf : buf.subarray(0, bytesRead);
        continue;
      }
      if (end !== undefined && pos >= end) return;
      await new Promise<void>((r) => {
        wake = r;
      });
      wake = undefined;
    }
  }
  const timer = setInterval(() => post({ t: 'metrics', m: workerCounters(metrics) }), 250);
  try {
    await snapshot.write(follow(), {
      replace: d.replace,
      ...(d.snapshotBytes !== undefined ? { snapshotBytes: d.snapshotBytes } : {}),
      path: d.path,
      onOpened: () => post({ t: 'opened' }),
    });
    post({ t: 'done', m: workerCounters(metrics), restoreAllowed: snapshot.restoreAllowed });
  } catch (err) {
    post({
      t: 'failed',
      code: isFerryError(err) ? err.code : undefined,
      message: err instanceof Error ? err.message : String(err),
    });
  } finally {
    clearInterval(timer);
    await file.close().catch(() => undefined);
    // every write of this thread has its reply (or failed) before the thread ends
    await work.settle(25_000);
    await writer.close().catch(() => undefined);
    port.close();
  }
}

void main().catch((err: unknown) => {
  parentPort?.postMessage({
    t: 'failed',
    code: isFerryError(err) ? err.code : undefined,
    message: err instanceof Error ? err.message : String(err),
  } satisfies WorkerMessage);
  parentPort?.close();
});
