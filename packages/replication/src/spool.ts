import {
  closeSync,
  mkdirSync,
  openSync,
  readdirSync,
  rmSync,
  statfsSync,
  statSync,
  writeSync,
} from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { FerryError } from '@ferry/errors';

/**
 * One file being written by the receiver and read by the consumer at its own pace: the receiver never
 * waits for the consumer (so a slow target cannot make the source drop us), the consumer follows the
 * file as it grows, and the file is removed once consumed.
 */
export class SpoolFile {
  private written = 0;
  private finished = false;
  private failure: Error | undefined;
  private waiters: Array<() => void> = [];
  private readonly fd: number;
  /** Open readers' handles: held here so an abandoned reader's handle is closed by remove(), not by GC. */
  private readonly handles = new Set<FileHandle>();

  constructor(readonly path: string) {
    this.fd = openSync(path, 'w');
  }

  get bytes(): number {
    return this.written;
  }

  get done(): boolean {
    return this.finished;
  }

  /** Appends bytes (synchronously: the page cache is far faster than any network). */
  append(chunk: Buffer): void {
    let off = 0;
    try {
      while (off < chunk.length) off += writeSync(this.fd, chunk, off, chunk.length - off);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOSPC' && code !== 'EDQUOT') throw err;
      const dir = dirname(this.path);
      throw new FerryError(
        'DISK_FULL',
        `the disk under the spool folder ${dir} is full (${freeBytes(dir)} bytes free): ${this.path} could not grow past ${this.written + off} bytes`,
        { cause: err, details: { dir, file: this.path, written: this.written + off } },
      );
    }
    this.written += chunk.length;
    this.wake();
  }

  /** No more bytes will come. */
  finish(): void {
    if (this.finished) return;
    this.finished = true;
    closeSync(this.fd);
    this.wake();
  }

  /** The writer failed: readers get this error once they have read what was written. */
  fail(err: Error): void {
    this.failure ??= err;
    this.finish();
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  private waitForMore(): Promise<void> {
    return new Promise((resolve) => {
      this.waiters.push(resolve);
    });
  }

  /**
   * Reads the file from the start, following it as it grows, until it is finished. With
   * `gather`, a reader that has caught up with the writer waits (at most `gather.maxWaitMs`) until
   * `gather.minBytes` are there, so a consumer with a cost per chunk (a snapshot parser) gets big
   * chunks instead of every socket read's worth.
   */
  async *read(
    chunkSize = 1 << 20,
    signal?: AbortSignal,
    gather?: { minBytes: number; maxWaitMs: number },
  ): AsyncGenerator<Buffer> {
    const handle = await open(this.path, 'r');
    this.handles.add(handle);
    let position = 0;
    try {
      for (;;) {
        signal?.throwIfAborted();
        if (gather && !this.finished && this.written - position < gather.minBytes) {
          const until = Date.now() + gather.maxWaitMs;
          while (!this.finished && this.written - position < gather.minBytes && Date.now() < until)
            await Promise.race([this.waitForMore(), sleep(Math.max(1, until - Date.now()))]);
        }
        if (position < this.written) {
          const buf = Buffer.allocUnsafe(Math.min(chunkSize, this.written - position));
          const { bytesRead } = await handle.read(buf, 0, buf.length, position);
          position += bytesRead;
          if (bytesRead > 0) yield bytesRead === buf.length ? buf : buf.subarray(0, bytesRead);
          continue;
        }
        if (this.finished) {
          if (this.failure) throw this.failure;
          return;
        }
        await this.waitForMore();
      }
    } finally {
      this.handles.delete(handle);
      await handle.close();
    }
  }

  /** Removes the file (the consumer is done with it). */
  remove(): void {
    if (!this.finished) this.finish();
    for (const h of this.handles) void h.close().catch(() => {});
    this.handles.clear();
    rmSync(this.path, { force: true });
  }
}

/** Bytes free for this user on the disk holding `dir` (0 when it cannot be told). */
export function freeBytes(dir: string): number {
  try {
    const s = statfsSync(dir);
    return s.bavail * s.bsize;
  } catch {
    return 0;
  }
}

/** The spool folder: created on demand; its disk use is what the files in it take. */
export function prepareSpoolDir(dir: string): void {
  mkdirSync(dir, { recursive: true });
}

export function spoolDiskUsage(dir: string): number {
  let total = 0;
  try {
    for (const name of readdirSync(dir)) {
      try {
        total += statSync(join(dir, name)).size;
      } catch {
        // removed meanwhile
      }
    }
  } catch {
    return 0;
  }
  return total;
}
