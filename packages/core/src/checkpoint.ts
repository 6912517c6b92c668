import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { FerryError } from '@ferry/errors';
import type { TaskIdentity } from './identity.js';

/** Where one shard is: everything up to `offset` of `replid`'s history is applied on the target. */
export interface ShardCheckpoint {
  replid: string;
  offset: number;
  /** Source db selected at that offset: a resumed stream does not repeat its SELECT. */
  db?: number;
  /** The snapshot of this history finished loading. */
  snapshotDone: boolean;
  /** The target's mapped dbs were empty when the task first started (a re-snapshot may empty them). */
  targetWasEmpty?: boolean;
  /**
   * Target dbs this task has written to (a re-snapshot empties these and no other: a db another
   * client uses is not the task's to empty). Absent in checkpoints from before it was recorded.
   */
  dbs?: number[];
  /** The settings that produced it (see identity.ts): a resume under others is refused. */
  identity?: TaskIdentity;
  updatedAt: number;
}

export type TaskCheckpoint = Record<string, ShardCheckpoint>;

/** The persistence port: the CLI keeps checkpoints in a file, the service in its database. */
export interface CheckpointStore {
  load(taskId: string): Promise<TaskCheckpoint | undefined>;
  save(taskId: string, checkpoint: TaskCheckpoint): Promise<void>;
  clear(taskId: string): Promise<void>;
}

/** In memory only (tests, one-shot runs). */
export class MemoryCheckpointStore implements CheckpointStore {
  private readonly data = new Map<string, TaskCheckpoint>();
  async load(taskId: string): Promise<TaskCheckpoint | undefined> {
    const c = this.data.get(taskId);
    return c ? structuredClone(c) : undefined;
  }
  async save(taskId: string, checkpoint: TaskCheckpoint): Promise<void> {
    this.data.set(taskId, structuredClone(checkpoint));
  }
  async clear(taskId: string): Promise<void> {
    this.data.delete(taskId);
  }
}

/** One JSON file per task, replaced atomically (write, then rename). */
export class FileCheckpointStore implements CheckpointStore {
  constructor(private readonly path: (taskId: string) => string) {}

  async load(taskId: string): Promise<TaskCheckpoint | undefined> {
    const file = this.path(taskId);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    try {
      return JSON.parse(text) as TaskCheckpoint;
    } catch (err) {
      throw new FerryError(
        'CONFIG_INVALID',
        `checkpoint file ${file} is not valid JSON (delete it to start over)`,
        { cause: err },
      );
    }
  }

  async save(taskId: string, checkpoint: TaskCheckpoint): Promise<void> {
    const file = this.path(taskId);
    mkdirSync(dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(checkpoint, null, 2)}\n`);
    renameSync(tmp, file);
  }

  async clear(taskId: string): Promise<void> {
    try {
      renameSync(this.path(taskId), `${this.path(taskId)}.done`);
    } catch {
      // nothing to clear
    }
  }
}
