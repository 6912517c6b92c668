import * as C from './constants.js';
import { BLOB_TYPES, type ChunkOptions, ELEMENT_TYPES } from './decode.js';
import { type EofEntry, KeyEntry, NEEDS_IO, type ParseOptions, type RdbEntry } from './entries.js';
import { unsupported } from './errors.js';
import { ByteSource } from './source.js';
import {
  needBytes,
  needLen,
  needStr,
  readHashTemplateRecord,
  readKeyMeta,
  skipModuleData,
} from './sync-reads.js';
import { moduleName, readValue, skipSimpleValue, type ValueChunk, type ValueOptions } from './values.js';
import { view } from './view.js';

function foundEmpty(o: ValueOptions): boolean {
  return o.empty === true;
}

/**
 * A streaming RDB parser: an async iterable of entries over any chunked input (file, socket spool),
 * never holding more than a window plus one captured value.
 */
export class RdbParser {
  private readonly src: ByteSource;
  private readonly opts: Required<Omit<ParseOptions, 'checksumFile' | 'templates'>>;
  /** RDB version from the header (set once the first entry is read). */
  version = 0;
  /** Whose format the header names: `REDIS` + 4 digits, or `VALKEY` + 3 (Valkey 9 on). */
  lineage: 'redis' | 'valkey' = 'redis';
  db = 0;

  /** Hash templates the file registered (RDB 15's RDB_OPCODE_HASH_TEMPLATE), by id. */
  private readonly templates = new Map<number, Buffer[]>();
  /** Every key's decoding options: chunk sizes, and the templates (the map grows with the file). */
  readonly chunkOptions: ChunkOptions;

  constructor(input: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, options: ParseOptions = {}) {
    this.opts = {
      rawLimit: options.rawLimit ?? 32 << 20,
      chunkElements: options.chunkElements ?? 1024,
      chunkBytes: options.chunkBytes ?? 1 << 20,
      verifyChecksum: options.verifyChecksum ?? true,
      checksumThread: options.checksumThread ?? false,
    };
    const { chunkElements, chunkBytes } = this.opts;
    this.chunkOptions = { chunkElements, chunkBytes, templates: this.templates };
    this.src = new ByteSource(
      input,
      this.opts.verifyChecksum,
      this.opts.checksumThread,
      options.checksumFile,
    );
  }

  /** Bytes consumed so far. */
  get offset(): number {
    return this.src.offset;
  }

  private valueOptions(decode: boolean): ValueOptions {
    return {
      decode,
      chunkElements: this.opts.chunkElements,
      chunkBytes: this.opts.chunkBytes,
      rdbVersion: this.version,
      templates: this.templates,
    };
  }

  /** Options reused by every synchronous raw read (one allocation per parser, not per key). */
  private readonly rawOptions: ValueOptions = {
    decode: false,
    chunkElements: 1024,
    chunkBytes: 1 << 20,
    rdbVersion: 0,
  };

  readRawSync(e: KeyEntry): Buffer | undefined | typeof NEEDS_IO {
    const src = this.src;
    const start = src.offset;
    const o = this.rawOptions;
    o.empty = false;
    o.rdbVersion = this.version;
    o.templates = this.templates;
    // strings and compact blobs (most keys) without a generator; the rest through the full reader
    const simple = skipSimpleValue(src, e.rdbType, o);
    if (simple === false) {
      src.pos = start - src.base;
      return NEEDS_IO;
    }
    if (simple === undefined) {
      const gen = readValue(src, e.rdbType, o);
      for (let r = gen.next(); !r.done; r = gen.next()) {
        if (typeof r.value === 'number') {
          src.pos = start - src.base; // start over asynchronously
          return NEEDS_IO;
        }
      }
    }
    if (src.offset - start > this.opts.rawLimit) {
      src.pos = start - src.base;
      return undefined;
    }
    e.foundEmpty = foundEmpty(o); // set by the readers (TypeScript still sees the reset above)
    e.foundBytes = src.offset - start;
    return view(src.buf, start - src.base, src.pos);
  }

  async readRaw(e: KeyEntry): Promise<Buffer | undefined> {
    const src = this.src;
    const start = src.offset;
    const o = this.valueOptions(false);
    const gen = readValue(src, e.rdbType, o);
    src.keep = start;
    try {
      for (let r = gen.next(); !r.done; r = gen.next()) {
        if (typeof r.value !== 'number') continue;
        if (src.offset - start + r.value > this.opts.rawLimit) {
          // too big to carry whole: leave it unread for chunks()
          src.pos = start - src.base;
          return undefined;
        }
        await src.fill(r.value, 'a value');
      }
    } finally {
      src.keep = -1;
    }
    e.foundEmpty = o.empty === true;
    e.foundBytes = src.offset - start;
    return view(src.buf, start - src.base, src.pos);
  }

  /** Reads the value through the full reader, waiting for data as needed; yields chunks when decoding. */
  private async *readStreaming(e: KeyEntry, decode: boolean): AsyncGenerator<ValueChunk> {
    const src = this.src;
    const start = src.offset;
    const o = this.valueOptions(decode);
    const gen = readValue(src, e.rdbType, o);
    for (let r = gen.next(); !r.done; r = gen.next()) {
      if (typeof r.value === 'number') await src.fill(r.value, 'a value');
      else yield r.value;
    }
    e.foundEmpty = o.empty === true;
    e.foundBytes = src.offset - start;
  }

  readChunks(e: KeyEntry): AsyncGenerator<ValueChunk> {
    return this.readStreaming(e, true);
  }

  async skip(e: KeyEntry): Promise<void> {
    for await (const _ of this.readStreaming(e, false)) {
      // nothing is yielded without decoding: this only walks the value
    }
  }

  private async header(): Promise<void> {
    const src = this.src;
    await src.fill(9, 'the RDB header');
    const magic = (src.tryBytes(9) as Buffer).toString('latin1');
    if (/^VALKEY\d{3}$/.test(magic)) {
      // Valkey 9's own format (rdb.h: RDB_VERSION 80, magic "VALKEY" and three digits)
      this.lineage = 'valkey';
      this.version = Number(magic.slice(6));
      if (!C.VALKEY_RDB_VERSIONS.includes(this.version)) {
        throw unsupported(
          `"${magic}" is a Valkey RDB of version ${this.version}; this Ferry reads Valkey's VALKEY${C.VALKEY_RDB_VERSIONS.join('/')} (Valkey 9.0 and 9.1)`,
          { offset: 6 },
        );
      }
      return;
    }
    if (!/^REDIS\d{4}$/.test(magic)) {
      src.fail(
        `not an RDB file: it starts with ${JSON.stringify(magic)} instead of "REDIS" or "VALKEY" and a version`,
        0,
      );
    }
    this.version = Number(magic.slice(5));
    if (this.version < 1 || this.version > C.RDB_VERSION_MAX) {
      throw unsupported(
        `RDB version ${this.version} (this parser reads 1–${C.RDB_VERSION_MAX}: up to Redis 8.10, and Valkey's VALKEY080)`,
        { offset: 5 },
      );
    }
  }

  /** Pending per-key opcodes (EXPIRETIME, IDLE, FREQ) that apply to the next key. */
  private expireAt: number | undefined;
  private idle: number | undefined;
  private freq: number | undefined;
  /** Key-metadata classes (Redis 8.6's RDB_OPCODE_KEY_META) read for the next key. */
  private keyMeta: string[] | undefined;
  /** Bytes the last step() that returned NEEDS_IO needs from where it started. */
  private needed = 0;
  private done = false;

  /**
   * Reads one opcode and what belongs to it from the window, synchronously. Returns the entry, undefined
   * for opcodes that only set state for the next key, or NEEDS_IO (nothing consumed; `needed` says how
   * many bytes from here are required).
   */
  private step(): RdbEntry | undefined | typeof NEEDS_IO {
    // (no closures here: this runs once an opcode, and each would be an allocation)
    const src = this.src;
    const start = src.pos;
    const opAt = src.offset;
    src.key = undefined;
    try {
      if (src.pos >= src.buf.length) {
        src.short = 1;
        return this.short(start);
      }
      const op = src.buf[src.pos++] as number;
      switch (op) {
        case C.RDB_OPCODE_EOF: {
          // the checksum is compared by verifyEof(), which may wait for the checksum thread
          if (this.version >= 5) {
            this.storedChecksum = this.needBytes(8);
            src.foldCrc(src.offset - 8);
          }
          this.done = true;
          return { kind: 'eof', offset: src.offset, checksum: 'disabled' };
        }
        case C.RDB_OPCODE_SELECTDB:
          this.db = this.needLen();
          return { kind: 'select', db: this.db };
        case C.RDB_OPCODE_RESIZEDB: {
          const size = this.needLen();
          return { kind: 'resizedb', db: this.db, size, expires: this.needLen() };
        }
        case C.RDB_OPCODE_AUX: {
          const key = this.needStr();
          return { kind: 'aux', key, value: this.needStr() };
        }
        case C.RDB_OPCODE_EXPIRETIME:
          this.expireAt = this.needBytes(4).readInt32LE(0) * 1000;
          return undefined;
        case C.RDB_OPCODE_EXPIRETIME_MS: {
          // read in place (no view, no BigInt: a fifth of the keys have one); exact below 2^53
          if (src.avail() < 8) {
            src.short = 8;
            throw NEEDS_IO;
          }
          const p = src.pos;
          this.expireAt = src.buf.readInt32LE(p + 4) * 4294967296 + src.buf.readUInt32LE(p);
          src.pos = p + 8;
          return undefined;
        }
        case C.RDB_OPCODE_IDLE:
          this.idle = this.needLen();
          return undefined;
        case C.RDB_OPCODE_FREQ:
          this.freq = this.needBytes(1)[0];
          return undefined;
        case C.RDB_OPCODE_FUNCTION2:
          return { kind: 'function', code: this.needStr() };
        case C.RDB_OPCODE_FUNCTION_PRE_GA: {
          // Redis 7.0 release candidates: name, engine, optional description, body. Redis 7.0 GA loads
          // it as the library "#!<engine> name=<name>\n<body>" (the description is dropped), and so do we.
          const name = this.needStr();
          const engine = this.needStr();
          if (this.needLen() !== 0) this.needStr();
          const body = this.needStr();
          const header = Buffer.from(
            `#!${engine.toString('latin1')} name=${name.toString('latin1')}\n`,
            'latin1',
          );
          return { kind: 'function', code: Buffer.concat([header, body]) };
        }
        case C.RDB_OPCODE_MODULE_AUX: {
          const id = src.tryBigLength();
          if (id === undefined) throw NEEDS_IO;
          const whenOpcode = this.needLen();
          if (whenOpcode !== C.RDB_MODULE_OPCODE_UINT)
            src.fail(`MODULE_AUX "when" has opcode ${whenOpcode}, not UINT`);
          const when = this.needLen();
          // the module's data, annotated with opcodes like a MODULE_2 value
          skipModuleData(src, `data of module ${moduleName(id)}`);
          return { kind: 'module-aux', moduleId: id, name: moduleName(id), when };
        }
        case C.RDB_OPCODE_KEY_META: {
          if (this.lineage === 'valkey') {
            src.fail(
              "opcode 243 in a VALKEY080 file: Valkey 9.0 does not define it (a later Valkey's slot import?)",
              opAt,
            );
          }
          this.keyMeta = readKeyMeta(src);
          return undefined;
        }
        case C.RDB_OPCODE_HASH_TEMPLATE:
          readHashTemplateRecord(src, this.templates, opAt, this.lineage === 'redis' && this.version >= 15);
          return undefined;
        case C.RDB_OPCODE_SLOT_INFO: {
          const slot = this.needLen();
          const size = this.needLen();
          return { kind: 'slot-info', slot, size, expiresSize: this.needLen() };
        }
        default: {
          const type = this.lineage === 'valkey' ? C.valkeyType(op) : op;
          const info = C.RDB_TYPES.get(type);
          if (!info && type !== C.RDB_TYPE_MODULE_PRE_GA)
            src.fail(
              this.lineage === 'valkey' && type < 0
                ? `value type ${op} is not defined in Valkey's VALKEY${this.version} format`
                : `unknown opcode or value type ${op}`,
              opAt,
            );
          const key = this.needStr();
          src.key = key;
          if (!info) {
            throw unsupported(
              'a module value in the pre-GA format (Redis 4.0 release candidates) cannot be read without its module',
              {
                offset: opAt,
                key,
              },
            );
          }
          // the size hint looks a few bytes into the value: have them unless the input ends first
          if (src.avail() < 17 && !src.ended) {
            src.short = 17;
            throw NEEDS_IO;
          }
          this.peekValue(type, info.encoding);
          const entry = new KeyEntry(
            this,
            this.db,
            key,
            type,
            info.type,
            this.peekEncoding,
            this.expireAt,
            this.idle,
            this.freq,
            opAt,
            this.peekElements,
            this.peekBytes,
          );
          if (this.keyMeta) {
            entry.keyMeta = this.keyMeta;
            this.keyMeta = undefined;
          }
          this.expireAt = undefined;
          this.idle = undefined;
          this.freq = undefined;
          return entry;
        }
      }
    } catch (err) {
      if (err === NEEDS_IO) return this.short(start);
      throw err;
    }
  }

  /**
   * Reads what the last step() needed. Near the end of the input it may get less (the step asked for
   * look-ahead): that is progress; only no progress at all is a truncated file.
   */
  private async more(): Promise<void> {
    const before = this.src.avail();
    const ended = this.src.ended;
    try {
      await this.src.fill(this.needed, 'the next entry');
    } catch (err) {
      // learning that the input ended also counts: the step then stops asking for look-ahead
      if (this.src.avail() > before || this.src.ended !== ended) return;
      throw err;
    }
  }

  /** Rolls a step back to `start`, recording how many bytes from there it needs. */
  private short(start: number): typeof NEEDS_IO {
    const src = this.src;
    this.needed = src.pos - start + src.short;
    src.pos = start;
    return NEEDS_IO;
  }

  /* step()'s reads: throw NEEDS_IO (caught in step, which rolls back) when the window is short */
  private needLen(): number {
    return needLen(this.src);
  }
  private needStr(): Buffer {
    return needStr(this.src);
  }
  private needBytes(n: number): Buffer {
    return needBytes(this.src, n);
  }

  private storedChecksum: Buffer | undefined;

  /** Compares the checksum after EOF with the content's (RDB 5+; zero means the writer disabled it). */
  private async verifyEof(entry: EofEntry): Promise<void> {
    const stored = this.storedChecksum;
    if (!stored) return;
    const expected = await this.src.crcDigest();
    if (!expected) entry.checksum = 'skipped';
    else if (stored.every((b) => b === 0)) entry.checksum = 'disabled';
    else if (!stored.equals(expected)) {
      this.src.fail(
        `checksum mismatch: the file says ${stored.toString('hex')}, the content gives ${expected.toString('hex')}`,
        entry.offset - 8,
      );
    } else entry.checksum = 'ok';
  }

  /** Every entry, one at a time. */
  async *entries(): AsyncGenerator<RdbEntry> {
    try {
      await this.header();
      while (!this.done) {
        const r = this.step();
        if (r === NEEDS_IO) {
          await this.more();
          continue;
        }
        if (r === undefined) continue;
        if (r.kind === 'eof') await this.verifyEof(r);
        yield r;
        if (r.kind === 'key' && !r.consumed) await r.skip();
      }
    } finally {
      await this.src.close();
    }
  }

  /**
   * Entries in batches of up to `max`, read without an await per entry: the fast path for migrations.
   * Every key's raw value is captured while it lies in the window (`raw()` answers at once, `chunks()`
   * decodes from it); a key whose value reaches past the window ends its batch unread, so the consumer
   * reads it (raw or chunks) before the next batch is parsed.
   */
  async *batches(max = 1024): AsyncGenerator<RdbEntry[]> {
    try {
      yield* this.batchLoop(max);
    } finally {
      await this.src.close();
    }
  }

  private async *batchLoop(max: number): AsyncGenerator<RdbEntry[]> {
    await this.header();
    while (!this.done) {
      const batch: RdbEntry[] = [];
      while (batch.length < max && !this.done) {
        const r = this.step();
        if (r === NEEDS_IO) {
          if (batch.length > 0) break;
          await this.more();
          continue;
        }
        if (r === undefined) continue;
        if (r.kind === 'eof') await this.verifyEof(r);
        batch.push(r);
        if (r.kind === 'key' && !r.captureSync()) break;
      }
      yield batch;
      const last = batch[batch.length - 1];
      if (last?.kind === 'key' && !last.consumed) await last.skip();
    }
  }

  /** What peekValue found (fields, not a returned object: this runs once a key). */
  private peekEncoding = '';
  private peekElements = -1;
  private peekBytes = -1;

  /** The encoding and size hint of the value at the current position, without consuming it. */
  private peekValue(rdbType: number, encoding: string): void {
    const src = this.src;
    const start = src.pos;
    this.peekEncoding = encoding;
    this.peekElements = -1;
    this.peekBytes = -1;
    try {
      if (rdbType === C.RDB_TYPE_HASH_METADATA || rdbType === C.RDB_TYPE_HASH_LISTPACK_EX) src.pos += 8;
      const n = src.pos < src.buf.length ? src.tryLength() : -1;
      if (n < 0) return;
      if (rdbType === C.RDB_TYPE_STRING) {
        if (src.encoded) this.peekEncoding = n === C.RDB_ENC_LZF ? 'lzf' : 'int';
        else this.peekBytes = n;
      } else if (BLOB_TYPES.has(rdbType)) {
        if (!src.encoded) this.peekBytes = n;
      } else if (ELEMENT_TYPES.has(rdbType)) this.peekElements = n;
    } catch {
      // the value reader reports the corruption with its context
    } finally {
      src.pos = start;
    }
  }
}
