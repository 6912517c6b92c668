import { FerryError } from '@ferry/errors';
import type { TaskCheckpoint } from './checkpoint.js';
import { onSide } from './endpoint.js';
import type { TaskEvents } from './events.js';
import { TargetImportMode } from './import-mode.js';
import { KeyMapper, type KeyTransform } from './keys.js';
import { newOwner, TaskLease } from './lease.js';
import type { ResolvedOptions } from './options.js';
import type { WorkerTarget } from './shard-context.js';
import { TargetWriter } from './target/writer.js';
import { checkEmptyTarget, checkTargetDbs } from './target-checks.js';
import { type LeaseHooks, LeaseKeeper } from './task-lease.js';
import type { EngineServices, TaskSpec } from './task-spec.js';

/** What opening a task's target needs of the task. */
export interface TaskTargetHost {
  taskId: string;
  spec: TaskSpec;
  options: ResolvedOptions;
  /** The task's key transforms, composed. */
  transform?: KeyTransform;
  services: EngineServices;
  checkpoint: TaskCheckpoint;
  signal: AbortSignal;
  emit<E extends keyof TaskEvents>(event: E, payload: TaskEvents[E]): void;
  /** The target lost the task's keys, as a writer found (the lease, if any, tells a loss from a takeover). */
  targetLost(node: string): void;
  /** What the lease tells the task (see task-lease.ts); `fenced` is the target spec's own. */
  lease: Omit<LeaseHooks, 'fenced'>;
}

/** The target as a run of the task writes to it. */
export interface TaskTarget {
  writer: TargetWriter;
  mapper: KeyMapper;
  /** The task's lease on the target (none through a proxy), taken. */
  lease: LeaseKeeper | undefined;
  /** Everything in the target's mapped dbs is this task's (decided when it first started). */
  targetOwned: boolean;
  /** What a snapshot thread opens its own writer with (it proves the lease too). */
  worker: WorkerTarget;
  /** The import mode this run turned on (Valkey 8.1+), to turn off when it ends. */
  importMode: TargetImportMode | undefined;
}

/** The target's settings that can be refused before anything runs. */
export function checkTargetSpec(t: TaskSpec['target'], options: ResolvedOptions): void {
  const { proxy } = t;
  if (proxy !== undefined && proxy !== 'twemproxy' && proxy !== 'codis')
    throw new FerryError(
      'CONFIG_INVALID',
      `target proxy must be twemproxy or codis; got ${JSON.stringify(proxy)}`,
    );
  if (proxy && t.cluster)
    throw new FerryError('CONFIG_INVALID', 'the target is either a cluster or a proxy, not both');
  if (proxy === 'codis' && options.writeMode === 'restore')
    throw new FerryError(
      'CONFIG_INVALID',
      'codis-proxy refuses RESTORE: use --write-mode auto or rewrite with a codis target',
    );
  if (proxy && options.targetImportMode === 'on')
    throw new FerryError(
      'CONFIG_INVALID',
      `targetImportMode "on": a ${proxy} proxy target has no import mode`,
    );
}

/**
 * Opens the target for a run: its writer, the key mapping checked against its dbs, the task's lease
 * taken before anything is written, and whether the task owns what is there.
 */
export async function openTaskTarget(h: TaskTargetHost): Promise<TaskTarget> {
  const t = h.spec.target;
  const worker: WorkerTarget = {
    endpoint: t.endpoint,
    cluster: Boolean(t.cluster),
    ...(t.proxy ? { proxy: t.proxy } : {}),
    ...(t.version ? { version: t.version } : {}),
    ...(t.maxKeyBytes ? { maxKeyBytes: t.maxKeyBytes } : {}),
    maxInFlight: h.options.maxInFlight,
  };
  const writer = await TargetWriter.open({
    ...worker,
    signal: h.signal,
    onNotice: (m) => h.services.log?.debug(m),
    onTargetLost: (node) => h.targetLost(node),
  }).catch((err: unknown) => {
    throw onSide('target', err);
  });
  const mapper = new KeyMapper(
    h.options.dbMap,
    h.options.renamePrefix,
    h.options.filter,
    Boolean(t.cluster || t.proxy),
    h.transform,
  );
  let lease: LeaseKeeper | undefined;
  try {
    if (!t.cluster && !t.proxy) await checkTargetDbs(writer, mapper, t.endpoint);
    if (!t.proxy) {
      // one writer per task: taken before anything is written, proved by every connection after
      lease = new LeaseKeeper(
        new TaskLease(h.taskId, newOwner(), h.services.leaseTtlMs, h.options.reservedPrefix),
        writer,
        h.taskId,
        {
          ...h.lease,
          // the snapshot threads' connections prove it too
          fenced: (fence) => {
            worker.fence = fence;
          },
        },
      );
      await lease.acquire();
    } else {
      h.emit('task:warning', {
        taskId: h.taskId,
        message: `the target is a ${t.proxy} proxy: no MULTI, so a source transaction is applied command by command, and after a crash up to one batch of non-idempotent commands (INCR, LPUSH…) may be applied twice${h.options.conflict === 'fail' ? '; the proxy cannot count keys, so an existing key is found only when it is written (conflict policy "fail")' : ''}`,
      });
    }
    // whether everything in the target's mapped dbs is this task's, decided when it first starts
    const saved = Object.values(h.checkpoint);
    const targetOwned =
      !t.proxy &&
      (saved.length === 0
        ? await checkEmptyTarget(writer, mapper, h.options, t.endpoint)
        : saved.some((c) => c.targetWasEmpty));
    // last: after the lease (another process's task is not this one's to change), after every
    // refusal (nothing is left changed on a target the task does not run on), before any write
    const importMode = await TargetImportMode.enable(
      writer,
      h.options.targetImportMode,
      { taskId: h.taskId, prefix: h.options.reservedPrefix },
      (message) => h.emit('task:warning', { taskId: h.taskId, message }),
    );
    if (importMode) {
      worker.importSource = true;
      h.emit('target:import-mode', {
        taskId: h.taskId,
        on: true,
        nodes: importMode.nodes,
        message: `import mode on on the target (${importMode.nodes.join(', ') || 'it was on already'}): until the task ends, keys there expire only when the source's DEL arrives, and none is evicted`,
      });
    }
    return { writer, mapper, lease, targetOwned, worker, importMode };
  } catch (err) {
    // refused (a target not empty, a lease held, import mode required and not there): the lease
    // is given back at once and the connections closed, not left for the next run to wait out
    await lease?.release();
    await writer.close();
    throw err;
  }
}

/**
 * Turns the target's import mode off again where the run turned it on, and says so (read back
 * with CONFIG GET). A failure to is a warning naming the node and the command to run.
 */
export async function endImportMode(
  mode: TargetImportMode | undefined,
  taskId: string,
  emit: TaskTargetHost['emit'],
): Promise<void> {
  if (!mode) return;
  const nodes = mode.nodes;
  if (nodes.length === 0) return;
  try {
    const off = await mode.restore();
    emit('target:import-mode', {
      taskId,
      on: false,
      nodes: off,
      message: `import mode off again on the target (${off.join(', ')}; read back with CONFIG GET): keys there expire by themselves again`,
    });
  } catch (err) {
    emit('task:warning', { taskId, message: (err as Error).message });
  }
}
