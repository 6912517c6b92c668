import { Worker } from 'node:worker_threads';
import { FerryError, type FerryErrorCode } from '@ferry/errors';
import type { ShardReader } from '@ferry/plugin-sdk';
import type { ShardMetrics, TaskEvents } from './events.js';
import type { ShardContext, SnapshotJob, SnapshotWorkerSpec } from './shard-context.js';
import type { SnapshotWorkerData, WorkerMessage } from './snapshot-worker.js';

/** What a snapshot thread needs of its shard on the task's thread. */
export interface ThreadHost {
  ctx: ShardContext;
  metrics: ShardMetrics;
  name: string;
  /** Whether keys may go as RESTORE when the thread starts. */
  restoreAllowed: boolean;
  /** A target db written to (the thread tells, before it writes there). */
  noteDb(db: number): void;
  /** Counts the thread among the pass's writes in flight (the next pass waits for it). */
  track(p: Promise<void>): void;
  /** The pass's failure from elsewhere. */
  failed(): Error | undefined;
}

/**
 * The process's Node options less a `@ferry/source` condition (tests resolve the packages' sources
 * with it; the worker runs the build, whose imports must resolve to the build too).
 */
function workerExecArgv(): string[] {
  const out: string[] = [];
  const a = process.execArgv;
  for (let i = 0; i < a.length; i++) {
    const arg = a[i] as string;
    if ((arg === '--conditions' || arg === '-C') && a[i + 1] === '@ferry/source') i++;
    else if (!/^(--conditions|-C)=@ferry\/source$/.test(arg)) out.push(arg);
  }
  return out;
}

/** The worker's module: built next to this one (tests that run the sources use the build's). */
function snapshotWorkerUrl(): URL {
  const here = import.meta.url;
  return here.endsWith('.ts')
    ? new URL('../dist/snapshot-worker.js', here)
    : new URL('./snapshot-worker.js', here);
}

/**
 * A shard's snapshot written on a worker thread of its own (see snapshot-worker.ts): the reader's
 * payload is drained here only to tell the thread how far the spool file is written. Returns
 * whether RESTORE may still be used (false once the target refused one).
 */
export async function writeSnapshotOnThread(
  h: ThreadHost,
  reader: ShardReader,
  job: SnapshotJob,
): Promise<boolean> {
  const { ctx } = h;
  let restoreAllowed = h.restoreAllowed;
  const spec = ctx.snapshotWorker as SnapshotWorkerSpec;
  const data: SnapshotWorkerData = {
    taskId: ctx.taskId,
    shard: ctx.shard,
    shardCount: ctx.shardCount,
    target: spec.target,
    options: ctx.options,
    rate: spec.rate(),
    forceDb0: spec.forceDb0,
    spoolDir: ctx.spoolDir,
    path: job.path as string,
    ...(job.snapshotBytes !== undefined ? { snapshotBytes: job.snapshotBytes } : {}),
    replace: job.replace,
    restoreAllowed,
  };
  const worker = new Worker(snapshotWorkerUrl(), { workerData: data, execArgv: workerExecArgv() });
  const exited = new Promise<void>((r) => worker.once('exit', () => r()));
  // a thread stuck on a target that never answers is ended once the retry stopped waiting for it
  const stop = (): void => {
    const kill = setTimeout(() => void worker.terminate(), 35_000);
    kill.unref();
    void exited.then(() => clearTimeout(kill));
  };
  // the next pass starts only once this thread's writes are settled (see run())
  h.track(exited);
  const base = {
    keys: h.metrics.keys,
    skippedKeys: h.metrics.skippedKeys,
    errors: { ...h.metrics.errors },
  };
  const merge = (m: Partial<ShardMetrics>): void => {
    const { keys = 0, skippedKeys = 0, errors, ...rest } = m;
    Object.assign(h.metrics, rest);
    h.metrics.keys = base.keys + keys;
    h.metrics.skippedKeys = base.skippedKeys + skippedKeys;
    for (const [k, v] of Object.entries(errors ?? {})) h.metrics.errors[k] = (base.errors[k] ?? 0) + v;
  };
  let opened!: () => void;
  const isOpen = new Promise<void>((r) => (opened = r));
  let settle!: { resolve: () => void; reject: (e: Error) => void };
  const outcome = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
  worker.on('message', (m: WorkerMessage) => {
    if (m.t === 'opened') opened();
    else if (m.t === 'stray') ctx.moved.stray();
    else if (m.t === 'db') h.noteDb(m.db);
    else if (m.t === 'metrics') merge(m.m);
    else if (m.t === 'event') ctx.emit(m.name as keyof TaskEvents, m.payload as never);
    else if (m.t === 'done') {
      merge(m.m);
      restoreAllowed = m.restoreAllowed;
      settle.resolve();
    } else if (m.t === 'failed')
      settle.reject(m.code ? new FerryError(m.code as FerryErrorCode, m.message) : new Error(m.message));
  });
  worker.on('error', (err) => settle.reject(err));
  void exited.then(() => settle.reject(new Error(`the snapshot thread of ${h.name} ended without a result`)));
  const onAbort = (): void => {
    worker.postMessage({ t: 'abort' });
    stop();
  };
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  // pauses and rate changes reach the worker within a tick
  let pausedSent = false;
  const relay = setInterval(() => {
    const paused = ctx.gate() !== undefined;
    if (paused !== pausedSent) worker.postMessage({ t: paused ? 'pause' : 'resume' });
    pausedSent = paused;
    const rate = spec.rate();
    if (JSON.stringify(rate) !== JSON.stringify(data.rate)) {
      data.rate = rate;
      worker.postMessage({ t: 'rate', limit: rate });
    }
  }, 100);
  try {
    await Promise.race([isOpen, outcome]);
    let n = 0;
    const drain = (async () => {
      for await (const c of reader.snapshot(ctx.signal)) {
        n += c.length;
        worker.postMessage({ t: 'avail', n });
      }
      worker.postMessage({ t: 'end', n });
    })();
    await Promise.all([drain, outcome]);
    const failed = h.failed();
    if (failed) throw failed;
    return restoreAllowed;
  } catch (err) {
    worker.postMessage({ t: 'abort' });
    stop();
    throw err;
  } finally {
    clearInterval(relay);
    ctx.signal.removeEventListener('abort', onAbort);
    void outcome.catch(() => undefined);
  }
}
