import { createHash } from 'node:crypto';
import {
  closeSync,
  createReadStream,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  realpathSync,
  statSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import type { ReaderSpec, ShardReader } from '@ferry/core';
import { FerryError } from '@ferry/errors';
import { RdbParser } from '@ferry/rdb';
import { CommandScanner, type StreamCommand, type SyncStart } from '@ferry/replication';
import { BackupReader } from './backup-reader.js';

/**
 * An append-only file as a source: a plain AOF (commands only), an AOF with an RDB preamble (a
 * snapshot, then commands, in one file), or a Redis 7+ multi-part AOF (a folder with a manifest
 * naming a base — RDB or AOF — and the incremental files after it). Whatever the layout, the
 * reader gives a snapshot (the RDB part, or an empty one) and then the commands, with positions
 * counted over the command bytes of all the parts in order: a rerun resumes after the last
 * command the target acknowledged.
 */

/** A stretch of command bytes: `path` from byte `from` to its end. */
interface Part {
  path: string;
  from: number;
  bytes: number;
}

export interface AofLayout {
  /** What was given (a file, a folder, or its manifest). */
  given: string;
  /** The RDB part: a whole base file, or the preamble of a single file (bytes 0 … `bytes`). */
  rdb?: { path: string; bytes: number };
  /** The command bytes, in order. */
  parts: Part[];
  /** Every file read, for the identity of the source. */
  files: string[];
}

const MANIFEST_LINE = /^file (\S+) seq (\d+) type ([bhi])\s*$/;

/** Where the RDB preamble of a single file ends (its EOF opcode and checksum), read through it once. */
async function rdbEnd(path: string): Promise<number> {
  const parser = new RdbParser(createReadStream(path, { highWaterMark: 1 << 20 }), { verifyChecksum: true });
  for await (const e of parser.entries()) {
    if (e.kind === 'key') await e.skip();
    else if (e.kind === 'eof') return e.offset;
  }
  throw new FerryError('RDB_CORRUPT', `the AOF ${path} starts with an RDB preamble that does not end`);
}

function startsWithRdb(path: string): boolean {
  const head = Buffer.alloc(5);
  const fd = openSync(path, 'r');
  try {
    return readSync(fd, head, 0, 5, 0) === 5 && head.toString('latin1') === 'REDIS';
  } finally {
    closeSync(fd);
  }
}

function fileSize(path: string): number {
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new FerryError('CONFIG_INVALID', `the AOF part ${path} is not a regular file`);
    return st.size;
  } catch (err) {
    if (err instanceof FerryError) throw err;
    throw new FerryError(
      'CONFIG_INVALID',
      `the AOF ${path} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
}

/** Reads what `given` is: a single AOF file, or a multi-part AOF's folder or manifest. */
export async function aofLayout(given: string): Promise<AofLayout> {
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(given);
  } catch (err) {
    throw new FerryError(
      'CONFIG_INVALID',
      `the AOF ${given} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  let manifest: string | undefined;
  if (st.isDirectory()) {
    const found = readdirSync(given).filter((n) => n.endsWith('.manifest'));
    if (found.length !== 1)
      throw new FerryError(
        'CONFIG_INVALID',
        `the folder ${given} ${found.length === 0 ? 'has no' : 'has more than one'} AOF manifest (*.manifest): give the appendonlydir of one Redis server, or one AOF file`,
      );
    manifest = join(given, found[0] as string);
  } else if (given.endsWith('.manifest')) manifest = given;
  if (!manifest) {
    const bytes = fileSize(given);
    if (bytes > 0 && startsWithRdb(given)) {
      const end = await rdbEnd(given);
      return {
        given,
        rdb: { path: given, bytes: end },
        parts: [{ path: given, from: end, bytes: bytes - end }],
        files: [given],
      };
    }
    return { given, parts: [{ path: given, from: 0, bytes }], files: [given] };
  }
  const dir = dirname(manifest);
  const base: string[] = [];
  const incr: Array<{ name: string; seq: number }> = [];
  const lines = readFileSync(manifest, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '');
  for (const line of lines) {
    const m = MANIFEST_LINE.exec(line.trim());
    if (!m)
      throw new FerryError(
        'CONFIG_INVALID',
        `the AOF manifest ${manifest} has a line Ferry does not read: ${JSON.stringify(line)}`,
      );
    const [, name = '', seq = '0', type] = m;
    if (type === 'b') base.push(name);
    else if (type === 'i') incr.push({ name, seq: Number(seq) });
    // 'h': history, files Redis is about to delete: not part of the data
  }
  if (base.length > 1)
    throw new FerryError('CONFIG_INVALID', `the AOF manifest ${manifest} names ${base.length} base files`);
  incr.sort((a, b) => a.seq - b.seq);
  const layout: AofLayout = { given, parts: [], files: [manifest] };
  const b = base[0];
  if (b !== undefined) {
    const path = join(dir, b);
    const bytes = fileSize(path);
    layout.files.push(path);
    if (b.endsWith('.rdb') || (bytes > 0 && startsWithRdb(path))) layout.rdb = { path, bytes };
    else layout.parts.push({ path, from: 0, bytes });
  }
  for (const { name } of incr) {
    const path = join(dir, name);
    layout.parts.push({ path, from: 0, bytes: fileSize(path) });
    layout.files.push(path);
  }
  return layout;
}

/** Commands handed over at once at most (a rate limit is taken between them). */
const BATCH = 1024;

/** An RDB with no key: the snapshot of an AOF that has none (header, EOF opcode, checksum 0: not checked). */
const EMPTY_RDB = Buffer.concat([Buffer.from('REDIS0009', 'latin1'), Buffer.from([0xff]), Buffer.alloc(8)]);

export class AofFileReader extends BackupReader implements ShardReader {
  private layout: AofLayout | undefined;
  private position = 0;
  private startAt = 0;

  constructor(
    private readonly given: string,
    private readonly spec: Pick<ReaderSpec, 'resume' | 'signal'>,
  ) {
    super(given);
  }

  private get total(): number {
    return (this.layout?.parts ?? []).reduce((a, p) => a + p.bytes, 0);
  }

  async start(): Promise<SyncStart> {
    const layout = await aofLayout(this.given);
    this.layout = layout;
    const id = createHash('sha1');
    for (const f of layout.files) {
      const st = statSync(f);
      id.update(`${realpathSync(f)}\u0000${st.size}\u0000${st.mtimeMs}\u0000`);
    }
    const replid = id.digest('hex');
    const resume = this.spec.resume;
    if (resume?.replid === replid && resume.offset <= this.total) {
      this.startAt = this.position = resume.offset;
      return { mode: 'continue', replid, offset: resume.offset };
    }
    return {
      mode: 'full',
      replid,
      offset: 0,
      diskless: false,
      snapshotBytes: layout.rdb?.bytes ?? EMPTY_RDB.length,
      ...(resume ? { resumeRefused: `the AOF ${this.given} changed since the checkpoint was made` } : {}),
    };
  }

  async *snapshot(signal: AbortSignal): AsyncIterable<Buffer> {
    const rdb = this.layout?.rdb;
    if (!rdb) {
      yield EMPTY_RDB;
      return;
    }
    if (rdb.bytes > 0) yield* this.bytes(rdb.path, signal, 0, rdb.bytes - 1);
  }

  /** Not a file holding the snapshot alone (a preamble is followed by commands): read through snapshot(). */
  get snapshotPath(): undefined {
    return undefined;
  }

  async *commandBatches(signal: AbortSignal): AsyncIterable<StreamCommand[]> {
    let logical = 0;
    for (const part of this.layout?.parts ?? []) {
      const end = logical + part.bytes;
      if (end <= this.startAt || part.bytes === 0) {
        logical = end;
        continue;
      }
      const skip = Math.max(0, this.startAt - logical);
      const scanner = new CommandScanner(true, {
        annotations: true,
        what: `AOF ${part.path}`,
        offset: logical + skip,
      });
      let batch: StreamCommand[] = [];
      for await (const chunk of this.bytes(part.path, signal, part.from + skip)) {
        scanner.feed(chunk, (argv, raw, _start, at) => {
          batch.push({ argv: argv as Buffer[], offset: at, ...(raw ? { raw } : {}) });
          this.position = at;
        });
        // what one read held (a read is at most a MB), in batches of at most BATCH commands
        for (let i = 0; i < batch.length; i += BATCH) yield batch.slice(i, i + BATCH);
        batch = [];
      }
      // a command cut at the end of the file (a crash mid-write): Redis drops it when told to
      // (aof-load-truncated); a restore says so and stops after everything before it, rather than
      // leave a command out unsaid
      if (scanner.pending > 0 && !this.closed)
        throw new FerryError(
          'PROTOCOL_ERROR',
          `the AOF ${part.path} ends inside a command (its last ${scanner.pending} bytes): it was cut while being written. Everything before it is applied; redis-check-aof --fix on a copy truncates the file there (what Redis loads with aof-load-truncated yes), then restore that copy`,
          { details: { path: part.path, pending: scanner.pending } },
        );
      logical = end;
    }
  }

  get offset(): number {
    return this.position;
  }

  async sourceOffset(): Promise<number> {
    return this.total;
  }

  async snapshotSizeEstimate(): Promise<number> {
    return this.layout?.rdb?.bytes ?? 0;
  }
}

/** The layout in one line, for the precheck: "multi-part AOF: an RDB base of 1.2 MB and 2 incremental files (3.4 MB of commands)". */
export function describeAof(l: AofLayout): string {
  const commands = l.parts.reduce((a, p) => a + p.bytes, 0);
  const multi = l.files.length > 1 || l.given.endsWith('.manifest');
  const base = l.rdb ? `an RDB ${multi ? 'base' : 'preamble'} of ${l.rdb.bytes} bytes, ` : '';
  return `${multi ? `multi-part AOF (${l.files.length - 1} files)` : 'AOF'}: ${base}${commands} bytes of commands`;
}
