import { createReadStream } from 'node:fs';

/**
 * What the readers of backup files share: the snapshot is read where it lies (nothing is spooled),
 * the source has no key counts to ask for, and closing only stops the reads under way.
 */
export abstract class BackupReader {
  readonly inPlace = true;
  protected closed = false;

  constructor(readonly name: string) {}

  /** Bytes `start` … `end` (inclusive; to the file's end without it) of `path`, a MB per read, until closed. */
  protected async *bytes(path: string, signal: AbortSignal, start = 0, end?: number): AsyncIterable<Buffer> {
    const stream = createReadStream(path, {
      highWaterMark: 1 << 20,
      start,
      ...(end !== undefined ? { end } : {}),
      signal,
    });
    for await (const chunk of stream) {
      if (this.closed) return;
      yield chunk as Buffer;
    }
  }

  async keyCounts(): Promise<undefined> {
    return undefined;
  }

  close(): void {
    this.closed = true;
  }

  cleanup(): void {
    this.closed = true;
  }
}
