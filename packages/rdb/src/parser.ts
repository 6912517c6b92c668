import { createReadStream, statSync } from 'node:fs';
import * as C from './constants.js';
import { unsupported } from './errors.js';
import { ByteSource } from './source.js';
import {
  BIG_STRING,
  BLOB_KIND,
  blobChunks,
  moduleName,
  quicklist2Sync,
  readValue,
  skipSimpleValue,
  type ValueChunk,
  type ValueOptions,
} from './values.js';
import { view } from './view.js';

export interface ParseOptions {
  /** Serialized values up to this size are captured for RESTORE; bigger ones must be decoded. Default 32 MB. */
  rawLimit?: number;
  /** Elements per decoded chunk. Default 1024. */
  chunkElements?: number;
  /** Bytes per decoded chunk, roughly. Default 1 MB. */
  chunkBytes?: number;
  /** Check the CRC64 after EOF (RDB 5+; a zero checksum means the writer disabled it). Default true. */
  verifyChecksum?: boolean;
  /** Compute the CRC64 on a worker thread (for big inputs). Default false; parseRdbFile turns it on past 16 MB. */
  checksumThread?: boolean;
  /**
   * With checksumThread: a file holding the input from its first byte (the RDB file, a snapshot
   * spool still being written). The thread reads the bytes there instead of being sent every chunk.
   */
  checksumFile?: string;
}

export interface AuxEntry {
  kind: 'aux';
  key: Buffer;
  value: Buffer;
}
export interface SelectDbEntry {
  kind: 'select';
  db: number;
}
export interface ResizeDbEntry {
  kind: 'resizedb';
  db: number;
  size: number;
  expires: number;
}
export interface FunctionEntry {
  kind: 'function';
  /** The library source, as FUNCTION LOAD takes it. */
  code: Buffer;
}
export interface ModuleAuxEntry {
  kind: 'module-aux';
  moduleId: bigint;
  name: string;
  when: number;
}
export interface SlotInfoEntry {
  kind: 'slot-info';
  slot: number;
  size: number;
  expiresSize: number;
}
export interface EofEntry {
  kind: 'eof';
  /** Offset just past the EOF opcode and checksum: where a replication stream's payload ends. */
  offset: number;
  /** 'ok', 'disabled' (zero checksum or RDB < 5) or 'skipped' (verifyChecksum false). */
  checksum: 'ok' | 'disabled' | 'skipped';
}

export type RdbEntry =
  | AuxEntry
  | SelectDbEntry
  | ResizeDbEntry
  | FunctionEntry
  | ModuleAuxEntry
  | SlotInfoEntry
  | KeyEntry
  | EofEntry;

/** How a KeyEntry's value gets read: implemented by the parser, kept off the entry so entries stay small. */
function foundEmpty(o: ValueOptions): boolean {
  return o.empty === true;
}

/** readRawSync's answer when the value reaches past the window (nothing was consumed). */
const NEEDS_IO = Symbol('needs-io');

interface ValueReader {
  readRawSync(e: KeyEntry): Buffer | undefined | typeof NEEDS_IO;
  readRaw(e: KeyEntry): Promise<Buffer | undefined>;
  readChunks(e: KeyEntry): AsyncGenerator<ValueChunk>;
  skip(e: KeyEntry): Promise<void>;
  readonly chunkOptions: Pick<ParseOptions, 'chunkElements' | 'chunkBytes'>;
}

/**
 * One key. Its value is read lazily and once: `raw()` for the serialized value (RESTORE), `chunks()`
 * for decoded, bounded batches, or nothing (skipped when the next entry is requested). When
 * `raw()` finds the value larger than `rawLimit` it returns undefined and leaves the value unread,
 * so `chunks()` can still decode it.
 */
export class KeyEntry {
  readonly kind = 'key';
  /** @internal */
  state: 'unread' | 'raw-refused' | 'read' = 'unread';
  /** @internal what reading the value found: emptiness and serialized size (-1: not read yet) */
  foundEmpty = false;
  /** @internal */
  foundBytes = -1;
  private rawValue: Buffer | undefined;

  constructor(
    private readonly reader: ValueReader,
    readonly db: number,
    readonly key: Buffer,
    /** RDB value type byte (RDB_TYPE_*). */
    readonly rdbType: number,
    readonly type: C.RedisType,
    /** Encoding as stored: "string", "int", "lzf", "ziplist", "listpack", "quicklist", "hashtable"… */
    readonly encoding: string,
    /** Absolute expiry in ms, if any. */
    readonly expireAtMs: number | undefined,
    /** LRU idle seconds (RDB_OPCODE_IDLE), if recorded. */
    readonly idleSeconds: number | undefined,
    /** LFU frequency (RDB_OPCODE_FREQ), if recorded. */
    readonly lfuFreq: number | undefined,
    /** Offset of the value's type byte in the stream. */
    readonly offset: number,
    /** @internal elements announced at the value's start (aggregates); -1: none */
    readonly hintElements: number,
    /** @internal the value's byte size (strings, compact blobs); -1: none */
    readonly hintBytes: number,
  ) {}

  /** Elements announced at the value's start (aggregates) or the blob's byte size (compact encodings). */
  get sizeHint(): { elements?: number; bytes?: number } {
    const h: { elements?: number; bytes?: number } = {};
    if (this.hintElements >= 0) h.elements = this.hintElements;
    if (this.hintBytes >= 0) h.bytes = this.hintBytes;
    return h;
  }

  /**
   * True when the value turned out to hold no element (known once read). Redis skips such keys on
   * load (and refuses them in RESTORE), so a migration must skip them too.
   */
  get empty(): boolean {
    return this.foundEmpty;
  }

  /** Serialized size of the value in bytes, known once it has been read. */
  get valueBytes(): number | undefined {
    return this.foundBytes < 0 ? undefined : this.foundBytes;
  }

  /** True once the value has been read (or skipped). */
  get consumed(): boolean {
    return this.state === 'read';
  }

  /** The serialized value (after the type byte), or undefined when it is larger than `rawLimit`. */
  raw(): Promise<Buffer | undefined> {
    if (this.state === 'read') return Promise.resolve(this.rawValue);
    if (this.state === 'raw-refused') return Promise.resolve(undefined);
    const done = (value: Buffer | undefined): Buffer | undefined => {
      this.state = value === undefined ? 'raw-refused' : 'read';
      this.rawValue = value;
      return value;
    };
    // most values lie inside the current window: read them without any await
    const sync = this.reader.readRawSync(this);
    if (sync !== NEEDS_IO) return Promise.resolve(done(sync));
    return this.reader.readRaw(this).then(done);
  }

  /** @internal Captures the raw value if it lies in the window; false when it must be read later. */
  captureSync(): boolean {
    if (this.state !== 'unread') return this.state === 'read';
    const sync = this.reader.readRawSync(this);
    if (sync === NEEDS_IO || sync === undefined) return false;
    this.state = 'read';
    this.rawValue = sync;
    return true;
  }

  /** The raw value when it has been captured already (`batches()` does for values in the window): no await. */
  get captured(): Buffer | undefined {
    return this.state === 'read' ? this.rawValue : undefined;
  }

  /**
   * The decoded value, at once, when it has been captured (`raw()` or `batches()`); undefined
   * otherwise (then use `chunks()`). No await per key: the fast way to decode small values.
   */
  decoded(): ValueChunk[] | undefined {
    if (this.state !== 'read' || !this.rawValue) return undefined;
    return decodeSync(this.rdbType, this.rawValue, this.key, this.reader.chunkOptions);
  }

  /** Decoded chunks of the value, each bounded by chunkElements / chunkBytes. */
  async *chunks(): AsyncGenerator<ValueChunk> {
    if (this.state === 'read') {
      if (!this.rawValue) throw new Error('this value was skipped or already decoded');
      // decode from the captured bytes
      yield* decodeBuffer(this.rdbType, this.rawValue, this.key, this.reader.chunkOptions);
      return;
    }
    this.state = 'read';
    yield* this.reader.readChunks(this);
  }

  /** Reads past the value without building it. */
  async skip(): Promise<void> {
    if (this.state === 'read') return;
    this.state = 'read';
    await this.reader.skip(this);
  }
}

/** Value types stored as one compact blob (ziplist, listpack, intset, zipmap). */
const BLOB_TYPES = new Set([
  C.RDB_TYPE_HASH_ZIPMAP,
  C.RDB_TYPE_LIST_ZIPLIST,
  C.RDB_TYPE_SET_INTSET,
  C.RDB_TYPE_ZSET_ZIPLIST,
  C.RDB_TYPE_HASH_ZIPLIST,
  C.RDB_TYPE_HASH_LISTPACK,
  C.RDB_TYPE_ZSET_LISTPACK,
  C.RDB_TYPE_SET_LISTPACK,
  C.RDB_TYPE_HASH_LISTPACK_EX_PRE_GA,
  C.RDB_TYPE_HASH_LISTPACK_EX,
]);
/** Value types that start with their element count. */
const ELEMENT_TYPES = new Set([
  C.RDB_TYPE_LIST,
  C.RDB_TYPE_SET,
  C.RDB_TYPE_ZSET,
  C.RDB_TYPE_ZSET_2,
  C.RDB_TYPE_HASH,
  C.RDB_TYPE_HASH_METADATA_PRE_GA,
  C.RDB_TYPE_HASH_METADATA,
]);

/** A plain (not int- or LZF-encoded) string whose header and bytes fill `value` exactly, else undefined. */
function plainString(value: Buffer): Buffer | undefined {
  const b = value[0];
  if (b === undefined) return undefined;
  let header: number;
  let len: number;
  switch (b >> 6) {
    case 0:
      header = 1;
      len = b & 0x3f;
      break;
    case 1:
      if (value.length < 2) return undefined;
      header = 2;
      len = ((b & 0x3f) << 8) | (value[1] as number);
      break;
    case 2:
      if (b !== 0x80 || value.length < 5) return undefined;
      header = 5;
      len = value.readUInt32BE(1);
      break;
    default:
      return undefined;
  }
  return header + len === value.length ? view(value, header, value.length) : undefined;
}

/** A source and reader options over one value held in memory. */
function inMemory(
  value: Buffer,
  key: Buffer | undefined,
  options: Pick<ParseOptions, 'chunkElements' | 'chunkBytes'>,
): { src: ByteSource; o: ValueOptions } {
  const src: ByteSource = ByteSource.of(value);
  src.key = key;
  const o: ValueOptions = {
    decode: true,
    chunkElements: options.chunkElements ?? 1024,
    chunkBytes: options.chunkBytes ?? 1 << 20,
    rdbVersion: C.RDB_VERSION_MAX,
  };
  return { src, o };
}

/** The full reader over a value in memory: it may not ask for more bytes, nor leave any. */
function* readInMemory(src: ByteSource, rdbType: number, o: ValueOptions): Generator<ValueChunk> {
  const gen = readValue(src, rdbType, o);
  for (let r = gen.next(); !r.done; r = gen.next()) {
    if (typeof r.value === 'number')
      src.fail(`value ends early: ${r.value} more bytes needed`, src.base + src.buf.length);
    yield r.value;
  }
  if (src.pos !== src.buf.length) src.fail(`${src.buf.length - src.pos} bytes after the end of the value`);
}

const SCRATCH = ByteSource.of(Buffer.alloc(0));
const SCRATCH_OPTIONS: ValueOptions = {
  decode: true,
  chunkElements: 1024,
  chunkBytes: 1 << 20,
  rdbVersion: C.RDB_VERSION_MAX,
};

/** Decodes a serialized value held in memory, all chunks at once (its size bounds theirs). */
export function decodeSync(
  rdbType: number,
  value: Buffer,
  key?: Buffer,
  options: Pick<ParseOptions, 'chunkElements' | 'chunkBytes'> = {},
): ValueChunk[] {
  if (rdbType === C.RDB_TYPE_STRING) {
    // the commonest value of all: a plain string, decoded without any allocation but its view
    const plain = plainString(value);
    if (plain) return [{ type: 'string', data: plain, offset: 0, length: plain.length }];
  }
  // one reused source and options object (this function is synchronous, so never re-entered)
  const src: ByteSource = SCRATCH; // annotated: src.fail() narrows only through a declared type
  src.buf = value;
  src.pos = 0;
  src.key = key;
  const o = SCRATCH_OPTIONS;
  o.empty = false;
  o.chunkElements = options.chunkElements ?? 1024;
  o.chunkBytes = options.chunkBytes ?? 1 << 20;
  // most keys (strings, compact blobs, quicklists) need no generator
  if (rdbType === C.RDB_TYPE_STRING && value.length <= BIG_STRING) {
    const data = src.tryString(false);
    if (data === undefined || src.pos !== value.length)
      src.fail('string value does not fill its serialized form exactly');
    return [{ type: 'string', data, offset: 0, length: data.length }];
  }
  if (rdbType === C.RDB_TYPE_LIST_QUICKLIST_2) {
    const chunks = quicklist2Sync(src, o);
    if (chunks === undefined || src.pos !== value.length)
      src.fail('quicklist value does not fill its serialized form exactly');
    return chunks;
  }
  const kind = BLOB_KIND[rdbType];
  if (kind && rdbType !== C.RDB_TYPE_HASH_LISTPACK_EX) {
    const blob = src.tryString(false);
    if (blob === undefined || src.pos !== value.length)
      src.fail(`${kind} value does not fill its serialized form exactly`);
    return blobChunks(src, rdbType, kind, blob, 0, o);
  }
  return [...readInMemory(src, rdbType, o)];
}

/** Decodes a serialized value held in memory (a raw value, or a DUMP payload's body), chunk by chunk. */
export async function* decodeBuffer(
  rdbType: number,
  value: Buffer,
  key?: Buffer,
  options: Pick<ParseOptions, 'chunkElements' | 'chunkBytes'> = {},
): AsyncGenerator<ValueChunk> {
  const { src, o } = inMemory(value, key, options);
  yield* readInMemory(src, rdbType, o);
}

/**
 * A streaming RDB parser: an async iterable of entries over any chunked input (file, socket spool),
 * never holding more than a window plus one captured value.
 */
export class RdbParser {
  private readonly src: ByteSource;
  private readonly opts: Required<Omit<ParseOptions, 'checksumFile'>>;
  /** RDB version from the header (set once the first entry is read). */
  version = 0;
  db = 0;

  constructor(input: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, options: ParseOptions = {}) {
    this.opts = {
      rawLimit: options.rawLimit ?? 32 << 20,
      chunkElements: options.chunkElements ?? 1024,
      chunkBytes: options.chunkBytes ?? 1 << 20,
      verifyChecksum: options.verifyChecksum ?? true,
      checksumThread: options.checksumThread ?? false,
    };
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

  get chunkOptions(): Pick<ParseOptions, 'chunkElements' | 'chunkBytes'> {
    return this.opts;
  }

  private valueOptions(decode: boolean): ValueOptions {
    return {
      decode,
      chunkElements: this.opts.chunkElements,
      chunkBytes: this.opts.chunkBytes,
      rdbVersion: this.version,
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
    if (!/^REDIS\d{4}$/.test(magic)) {
      if (magic.startsWith('VALKEY')) {
        throw unsupported(
          `"${magic}" is a Valkey RDB (its own format from Valkey 9.0 on), which this Ferry does not read yet`,
          {
            offset: 0,
          },
        );
      }
      src.fail(
        `not an RDB file: it starts with ${JSON.stringify(magic)} instead of "REDIS" and a version`,
        0,
      );
    }
    this.version = Number(magic.slice(5));
    if (this.version < 1 || this.version > C.RDB_VERSION_MAX) {
      throw unsupported(`RDB version ${this.version} (this parser reads 1–${C.RDB_VERSION_MAX})`, {
        offset: 5,
      });
    }
  }

  /** Pending per-key opcodes (EXPIRETIME, IDLE, FREQ) that apply to the next key. */
  private expireAt: number | undefined;
  private idle: number | undefined;
  private freq: number | undefined;
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
          for (;;) {
            const opcode = this.needLen();
            if (opcode === C.RDB_MODULE_OPCODE_EOF) break;
            if (opcode === C.RDB_MODULE_OPCODE_SINT || opcode === C.RDB_MODULE_OPCODE_UINT) {
              if (src.tryBigLength() === undefined) throw NEEDS_IO;
            } else if (opcode === C.RDB_MODULE_OPCODE_FLOAT) this.needBytes(4);
            else if (opcode === C.RDB_MODULE_OPCODE_DOUBLE) this.needBytes(8);
            else if (opcode === C.RDB_MODULE_OPCODE_STRING) this.needStr();
            else src.fail(`unknown module opcode ${opcode} in data of module ${moduleName(id)}`);
          }
          return { kind: 'module-aux', moduleId: id, name: moduleName(id), when };
        }
        case C.RDB_OPCODE_SLOT_INFO: {
          const slot = this.needLen();
          const size = this.needLen();
          return { kind: 'slot-info', slot, size, expiresSize: this.needLen() };
        }
        default: {
          const info = C.RDB_TYPES.get(op);
          if (!info && op !== C.RDB_TYPE_MODULE_PRE_GA) src.fail(`unknown opcode or value type ${op}`, opAt);
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
          this.peekValue(op, info.encoding);
          const entry = new KeyEntry(
            this,
            this.db,
            key,
            op,
            info.type,
            this.peekEncoding,
            this.expireAt,
            this.idle,
            this.freq,
            opAt,
            this.peekElements,
            this.peekBytes,
          );
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
    const n = this.src.tryPlainLength();
    if (n < 0) throw NEEDS_IO;
    return n;
  }
  private needStr(): Buffer {
    const s = this.src.tryString();
    if (s === undefined) throw NEEDS_IO;
    return s;
  }
  private needBytes(n: number): Buffer {
    const b = this.src.tryBytes(n);
    if (b === undefined) throw NEEDS_IO;
    return b;
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

/** Parses an RDB stream. */
export function parseRdb(
  input: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options?: ParseOptions,
): AsyncGenerator<RdbEntry> {
  return new RdbParser(input, options).entries();
}

/** Inputs bigger than this get their checksum computed on a worker thread by parseRdbFile. */
const CHECKSUM_THREAD_BYTES = 16 << 20;

/** A parser over an RDB file, reading it in 1 MB chunks (checksum on a worker thread past 16 MB). */
export function rdbFileParser(path: string, options: ParseOptions = {}): RdbParser {
  const checksumThread = options.checksumThread ?? statSync(path).size > CHECKSUM_THREAD_BYTES;
  return new RdbParser(createReadStream(path, { highWaterMark: 1 << 20 }), {
    ...options,
    checksumThread,
    checksumFile: path,
  });
}

/** Parses an RDB file (see rdbFileParser). */
export function parseRdbFile(path: string, options?: ParseOptions): AsyncGenerator<RdbEntry> {
  return rdbFileParser(path, options).entries();
}
