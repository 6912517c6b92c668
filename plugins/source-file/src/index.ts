import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync, realpathSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import type {
  CheckPlugin,
  CheckResult,
  ReaderSpec,
  ShardReader,
  ShardSpec,
  SourceTopologyPlugin,
} from '@ferry/core';
import { FerryError } from '@ferry/errors';
import { z } from '@ferry/plugin-sdk';
import { RDB_VERSION_MAX, VALKEY_RDB_VERSIONS } from '@ferry/rdb';
import type { StreamCommand, SyncStart } from '@ferry/replication';
import { AofFileReader, aofLayout, describeAof } from './aof.js';
import { BackupReader } from './backup-reader.js';

export interface FileSourceOptions {
  /** RDB files (a standalone's dump.rdb, or one per shard of a cluster's backup), restored in order. */
  files: string[];
  /** Or an append-only file: one AOF file, or a Redis 7+ appendonlydir (or its manifest). */
  aof?: string;
}

const META = { name: '@ferry/source-file', version: '0.1.0', engine: '^0.1.0' };

/** What the first bytes of a file say it is (read before anything is written). */
export function rdbHeader(path: string): { version: number; bytes: number } {
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(path);
  } catch (err) {
    throw new FerryError(
      'CONFIG_INVALID',
      `the source file ${path} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  if (!st.isFile()) throw new FerryError('CONFIG_INVALID', `the source file ${path} is not a regular file`);
  const head = Buffer.alloc(9);
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    throw new FerryError(
      'CONFIG_INVALID',
      `the source file ${path} cannot be opened: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  let n = 0;
  try {
    n = readSync(fd, head, 0, 9, 0);
  } finally {
    closeSync(fd);
  }
  const magic = head.subarray(0, n).toString('latin1');
  if (/^VALKEY\d{3}$/.test(magic)) {
    const version = Number(magic.slice(6));
    if (!VALKEY_RDB_VERSIONS.includes(version))
      throw new FerryError(
        'CONFIG_INVALID',
        `the source file ${path} is a Valkey RDB of version ${version} ("${magic}"): this Ferry reads Valkey's VALKEY${VALKEY_RDB_VERSIONS.join('/')} (Valkey 9.0 and 9.1) and Redis's RDB 1–${RDB_VERSION_MAX}`,
      );
    return { version, bytes: Number(st.size) };
  }
  if (!/^REDIS\d{4}$/.test(magic)) {
    throw new FerryError(
      'CONFIG_INVALID',
      `the source file ${path} is not an RDB file: it starts with ${JSON.stringify(magic)} instead of "REDIS" or "VALKEY" and a version`,
    );
  }
  const version = Number(magic.slice(5));
  if (version < 1 || version > RDB_VERSION_MAX)
    throw new FerryError(
      'CONFIG_INVALID',
      `the source file ${path} is RDB version ${version}: this Ferry reads RDB 1–${RDB_VERSION_MAX}`,
    );
  return { version, bytes: Number(st.size) };
}

/**
 * One RDB file read as a shard's source: its bytes are the snapshot, and nothing follows it. Its
 * identity (the history a checkpoint names) is the file's real path, size and modification time:
 * a rerun on the same file resumes (a snapshot fully written is not written again), on another
 * file it writes the snapshot again.
 */
export class RdbFileReader extends BackupReader implements ShardReader {
  constructor(
    private readonly path: string,
    private readonly spec: Pick<ReaderSpec, 'resume' | 'signal'>,
  ) {
    super(path);
  }

  private identity(): { id: string; bytes: number } {
    const { bytes } = rdbHeader(this.path);
    const st = statSync(this.path);
    const id = createHash('sha1')
      .update(`${realpathSync(this.path)}\u0000${bytes}\u0000${st.mtimeMs}`)
      .digest('hex');
    return { id, bytes };
  }

  async start(): Promise<SyncStart> {
    const { id, bytes } = this.identity();
    const resume = this.spec.resume;
    if (resume?.replid === id) return { mode: 'continue', replid: id, offset: 0 };
    return {
      mode: 'full',
      replid: id,
      offset: 0,
      diskless: false,
      snapshotBytes: bytes,
      ...(resume ? { resumeRefused: `the file ${this.path} changed since the checkpoint was made` } : {}),
    };
  }

  snapshot(signal: AbortSignal): AsyncIterable<Buffer> {
    return this.bytes(this.path, signal);
  }

  get snapshotPath(): string {
    return this.path;
  }

  // an RDB file has no commands after its snapshot: the shard ends once it is written
  async *commandBatches(_signal: AbortSignal): AsyncIterable<StreamCommand[]> {}

  get offset(): number {
    return 0;
  }

  async sourceOffset(): Promise<number> {
    return 0;
  }

  async snapshotSizeEstimate(): Promise<number> {
    return statSync(this.path).size;
  }
}

/** A shard id from a file's name: letters, digits, . _ - (stable over reruns with the same list). */
function shardId(path: string, i: number, all: string[]): string {
  const base = basename(path).replace(/[^A-Za-z0-9._-]/g, '_') || 'file';
  const dup = all.filter((p) => basename(p) === basename(path)).length > 1;
  return `file-${dup ? `${i}-` : ''}${base}`;
}

/**
 * Backup files as the source: RDB files of any version Ferry parses, restored into the target by
 * the same writers (RESTORE, or the rewrite path where the target refuses the version), with the
 * same checkpoints and the same check before "done" — against the files, read again.
 */
export function sourceFile(): SourceTopologyPlugin<FileSourceOptions> {
  return {
    kind: 'source-topology',
    topology: 'file',
    meta: META,
    options: z.object({
      files: z
        .union([z.string(), z.array(z.string())])
        .optional()
        .meta({
          flag: 'source-file',
          path: true,
          selects: true,
          locates: true,
          placeholder: 'FILE',
          description:
            "an RDB file to restore (a backup, a dump.rdb; any version Ferry reads), one per shard of a cluster's backup; instead of --source",
        }),
      aof: z.string().optional().meta({
        flag: 'source-aof',
        path: true,
        selects: true,
        locates: true,
        placeholder: 'PATH',
        description:
          'an append-only file to replay: one AOF file (with or without an RDB preamble) or a Redis 7+ appendonlydir with its manifest',
      }),
    }),
    parseOptions(raw: unknown): FileSourceOptions {
      const o = (typeof raw === 'object' && raw !== null ? raw : {}) as { files?: unknown; aof?: unknown };
      if (o.aof !== undefined) {
        if (typeof o.aof !== 'string' || !o.aof || o.files !== undefined)
          throw new FerryError(
            'CONFIG_INVALID',
            'a file source takes either "aof" (one AOF file or appendonlydir) or "files" (RDB files): --source-file or --source-aof, one of them, not both',
          );
        return { files: [], aof: o.aof };
      }
      const files = typeof o.files === 'string' ? [o.files] : o.files;
      if (!Array.isArray(files) || files.length === 0 || !files.every((f) => typeof f === 'string' && f))
        throw new FerryError(
          'CONFIG_INVALID',
          'a file source needs "files": one or more RDB file paths (--source-file dump.rdb)',
        );
      return { files: files as string[] };
    },
    async discover(opts): Promise<ShardSpec[]> {
      if (opts.aof) {
        await aofLayout(opts.aof); // refused now, before anything is written
        return [
          {
            id: `aof-${basename(opts.aof).replace(/[^A-Za-z0-9._-]/g, '_') || 'aof'}`,
            primary: { host: opts.aof, port: 0 },
            replicas: [],
            file: { path: opts.aof, format: 'aof' as const },
          },
        ];
      }
      return opts.files.map((path, i) => {
        rdbHeader(path); // refused now, before anything is written
        return {
          id: shardId(path, i, opts.files),
          primary: { host: path, port: 0 },
          replicas: [],
          file: { path, format: 'rdb' as const },
        };
      });
    },
    openReader(shard: ShardSpec, spec: ReaderSpec): ShardReader {
      const file = shard.file;
      if (!file) throw new FerryError('CONFIG_INVALID', `shard ${shard.id} is not a file`);
      return file.format === 'aof' ? new AofFileReader(file.path, spec) : new RdbFileReader(file.path, spec);
    },
  };
}

/** The precheck of a file source: each file readable, an RDB of a version Ferry reads. */
export function checkSourceFiles(): CheckPlugin {
  return {
    kind: 'check',
    meta: META,
    id: 'source-files',
    title: 'Source files are readable backups (RDB files, AOF)',
    async run(input): Promise<CheckResult[]> {
      const out: CheckResult[] = [];
      for (const shard of input.files ?? []) {
        if (shard.file?.format !== 'aof') continue;
        try {
          out.push({
            checkId: 'source-files',
            status: 'pass',
            message: `${shard.file.path}: ${describeAof(await aofLayout(shard.file.path))}`,
            shardId: shard.id,
          });
        } catch (err) {
          out.push({
            checkId: 'source-files',
            status: 'fail',
            message: (err as Error).message,
            advice: 'give one AOF file, or the appendonlydir of one Redis server (with its manifest)',
            shardId: shard.id,
          });
        }
      }
      return out.concat(
        (input.files ?? [])
          .filter((s) => s.file?.format !== 'aof')
          .map((shard) => {
            const path = shard.file?.path ?? '';
            try {
              const h = rdbHeader(path);
              return {
                checkId: 'source-files',
                status: 'pass' as const,
                message: `${path}: RDB version ${h.version}, ${h.bytes} bytes`,
                shardId: shard.id,
                details: { ...h },
              };
            } catch (err) {
              return {
                checkId: 'source-files',
                status: 'fail' as const,
                message: (err as Error).message,
                advice: 'give the path of an RDB file (a dump.rdb, or a backup of one)',
                shardId: shard.id,
              };
            }
          }),
      );
    },
  };
}

export { AofFileReader, aofLayout, describeAof } from './aof.js';
