import { createReadStream } from 'node:fs';
import * as C from './constants.js';
import { unsupported } from './errors.js';
import { ByteSource } from './source.js';
import { moduleName, readValue, type ValueChunk, type ValueGen, type ValueOptions } from './values.js';

export interface ParseOptions {
  /** Serialized values up to this size are captured for RESTORE; bigger ones must be decoded. Default 32 MB. */
  rawLimit?: number;
  /** Elements per decoded chunk. Default 1024. */
  chunkElements?: number;
  /** Bytes per decoded chunk, roughly. Default 1 MB. */
  chunkBytes?: number;
  /** Check the CRC64 after EOF (RDB 5+; a zero checksum means the writer disabled it). Default true. */
  verifyChecksum?: boolean;
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

type Driver = (
  gen: ValueGen,
  mode: 'raw' | 'decode' | 'skip',
) => AsyncGenerator<ValueChunk, Buffer | undefined, void>;

/**
 * One key. Its value is read lazily and once: `raw()` for the serialized value (RESTORE), `chunks()`
 * for decoded, bounded batches, or nothing (skipped when the next entry is requested). When
 * `raw()` finds the value larger than `rawLimit` it returns undefined and leaves the value unread,
 * so `chunks()` can still decode it.
 */
export class KeyEntry {
  readonly kind = 'key';
  private state: 'unread' | 'raw-refused' | 'read' = 'unread';
  /** Per-value state the reader fills in (emptiness). */
  private readonly valueState: { empty?: boolean; bytes?: number } = {};
  private rawValue: Buffer | undefined;

  constructor(
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
    /** Elements announced at the value's start (aggregates) or the blob's byte size (compact encodings). */
    readonly sizeHint: { elements?: number; bytes?: number },
    private readonly drive: Driver,
    private readonly makeGen: (decode: boolean, state: { empty?: boolean; bytes?: number }) => ValueGen,
    private readonly chunkOptions: Pick<ParseOptions, 'chunkElements' | 'chunkBytes'>,
  ) {}

  /**
   * True when the value turned out to hold no element (known once read). Redis skips such keys on
   * load (and refuses them in RESTORE), so a migration must skip them too.
   */
  get empty(): boolean {
    return this.valueState.empty === true;
  }

  /** Serialized size of the value in bytes, known once it has been read. */
  get valueBytes(): number | undefined {
    return this.valueState.bytes;
  }

  /** True once the value has been read (or skipped). */
  get consumed(): boolean {
    return this.state === 'read';
  }

  /** The serialized value (after the type byte), or undefined when it is larger than `rawLimit`. */
  async raw(): Promise<Buffer | undefined> {
    if (this.state === 'read') return this.rawValue;
    if (this.state === 'raw-refused') return undefined;
    const it = this.drive(this.makeGen(false, this.valueState), 'raw');
    let r = await it.next();
    while (!r.done) r = await it.next();
    if (r.value === undefined) {
      this.state = 'raw-refused';
      return undefined;
    }
    this.state = 'read';
    this.rawValue = r.value;
    return r.value;
  }

  /** Decoded chunks of the value, each bounded by chunkElements / chunkBytes. */
  async *chunks(): AsyncGenerator<ValueChunk> {
    if (this.state === 'read') {
      if (!this.rawValue) throw new Error('this value was skipped or already decoded');
      // decode from the captured bytes
      yield* decodeBuffer(this.rdbType, this.rawValue, this.key, this.chunkOptions);
      return;
    }
    this.state = 'read';
    yield* this.drive(this.makeGen(true, this.valueState), 'decode');
  }

  /** Reads past the value without building it. */
  async skip(): Promise<void> {
    if (this.state === 'read') return;
    this.state = 'read';
    const it = this.drive(this.makeGen(false, this.valueState), 'skip');
    let r = await it.next();
    while (!r.done) r = await it.next();
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

/** Decodes a serialized value held in memory (a raw value, or a DUMP payload's body). */
export async function* decodeBuffer(
  rdbType: number,
  value: Buffer,
  key?: Buffer,
  options: Pick<ParseOptions, 'chunkElements' | 'chunkBytes'> = {},
): AsyncGenerator<ValueChunk> {
  const src: ByteSource = new ByteSource([value], false);
  if (value.length > 0) await src.fill(value.length);
  src.key = key;
  const gen = readValue(src, rdbType, {
    decode: true,
    chunkElements: options.chunkElements ?? 1024,
    chunkBytes: options.chunkBytes ?? 1 << 20,
    rdbVersion: C.RDB_VERSION_MAX,
  });
  for (let r = gen.next(); !r.done; r = gen.next()) {
    if (typeof r.value === 'number')
      src.fail(`value ends early: ${r.value} more bytes needed`, src.base + src.buf.length);
    yield r.value;
  }
  if (src.pos !== src.buf.length) src.fail(`${src.buf.length - src.pos} bytes after the end of the value`);
}

/**
 * A streaming RDB parser: an async iterable of entries over any chunked input (file, socket spool),
 * never holding more than a window plus one captured value.
 */
export class RdbParser {
  private readonly src: ByteSource;
  private readonly opts: Required<ParseOptions>;
  /** RDB version from the header (set once the first entry is read). */
  version = 0;
  db = 0;

  constructor(input: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, options: ParseOptions = {}) {
    this.opts = {
      rawLimit: options.rawLimit ?? 32 << 20,
      chunkElements: options.chunkElements ?? 1024,
      chunkBytes: options.chunkBytes ?? 1 << 20,
      verifyChecksum: options.verifyChecksum ?? true,
    };
    this.src = new ByteSource(input, this.opts.verifyChecksum);
  }

  /** Bytes consumed so far. */
  get offset(): number {
    return this.src.offset;
  }

  private async str(what: string): Promise<Buffer> {
    let s: Buffer | undefined;
    while ((s = this.src.tryString()) === undefined) await this.src.fill(this.src.short, what);
    return s;
  }

  private async len(what: string): Promise<number> {
    let n: number;
    while ((n = this.src.tryPlainLength()) < 0) await this.src.fill(this.src.short, what);
    return n;
  }

  private async bytes(n: number, what: string): Promise<Buffer> {
    await this.src.fill(n, what);
    return this.src.tryBytes(n) as Buffer;
  }

  private readonly drive: Driver = async function* (
    this: RdbParser,
    gen: ValueGen,
    mode: 'raw' | 'decode' | 'skip',
  ) {
    const src: ByteSource = this.src;
    const start = src.offset;
    if (mode === 'raw') src.keep = start;
    try {
      for (let r = gen.next(); !r.done; r = gen.next()) {
        if (typeof r.value === 'number') {
          if (mode === 'raw' && src.offset - start + r.value > this.opts.rawLimit) {
            // too big to carry whole: leave it unread for chunks()
            src.pos = start - src.base;
            return undefined;
          }
          await src.fill(r.value, 'a value');
        } else if (mode === 'decode') yield r.value;
      }
      return mode === 'raw' ? src.buf.subarray(start - src.base, src.pos) : undefined;
    } finally {
      if (mode === 'raw') src.keep = -1;
    }
  }.bind(this);

  async *entries(): AsyncGenerator<RdbEntry> {
    const src: ByteSource = this.src;
    await src.fill(9, 'the RDB header');
    const magic = (src.tryBytes(9) as Buffer).toString('latin1');
    if (!/^REDIS\d{4}$/.test(magic)) {
      if (magic.startsWith('VALKEY'))
        throw unsupported(`"${magic}" is a Valkey RDB (its own format from Valkey 8.1 on), not a Redis one`, {
          offset: 0,
        });
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
    const vopts: ValueOptions = {
      decode: false,
      chunkElements: this.opts.chunkElements,
      chunkBytes: this.opts.chunkBytes,
      rdbVersion: this.version,
    };
    let expireAt: number | undefined;
    let idle: number | undefined;
    let freq: number | undefined;
    for (;;) {
      src.key = undefined;
      await src.fill(1, 'the next opcode');
      const opAt = src.offset;
      const op = src.tryU8();
      switch (op) {
        case C.RDB_OPCODE_EOF: {
          let checksum: EofEntry['checksum'] = 'disabled';
          src.foldCrc(src.offset);
          if (this.version >= 5) {
            const expected = src.crcDigest();
            const stored = await this.bytes(8, 'the checksum');
            if (!expected) checksum = 'skipped';
            else if (stored.every((b) => b === 0)) checksum = 'disabled';
            else if (!stored.equals(expected)) {
              src.fail(
                `checksum mismatch: the file says ${stored.toString('hex')}, the content gives ${expected.toString('hex')}`,
                opAt + 1,
              );
            } else checksum = 'ok';
          }
          yield { kind: 'eof', offset: src.offset, checksum };
          return;
        }
        case C.RDB_OPCODE_SELECTDB:
          this.db = await this.len('SELECTDB');
          yield { kind: 'select', db: this.db };
          continue;
        case C.RDB_OPCODE_RESIZEDB: {
          const size = await this.len('RESIZEDB');
          const expires = await this.len('RESIZEDB');
          yield { kind: 'resizedb', db: this.db, size, expires };
          continue;
        }
        case C.RDB_OPCODE_AUX: {
          const key = await this.str('an AUX field');
          const value = await this.str('an AUX field');
          yield { kind: 'aux', key, value };
          continue;
        }
        case C.RDB_OPCODE_EXPIRETIME:
          expireAt = (await this.bytes(4, 'EXPIRETIME')).readInt32LE(0) * 1000;
          continue;
        case C.RDB_OPCODE_EXPIRETIME_MS:
          expireAt = Number((await this.bytes(8, 'EXPIRETIME_MS')).readBigInt64LE(0));
          continue;
        case C.RDB_OPCODE_IDLE:
          idle = await this.len('IDLE');
          continue;
        case C.RDB_OPCODE_FREQ:
          freq = (await this.bytes(1, 'FREQ'))[0];
          continue;
        case C.RDB_OPCODE_FUNCTION2:
          yield { kind: 'function', code: await this.str('a FUNCTION2 library') };
          continue;
        case C.RDB_OPCODE_FUNCTION_PRE_GA: {
          // Redis 7.0 release candidates: name, engine, optional description, body. Redis 7.0 GA loads
          // it as the library "#!<engine> name=<name>\n<body>" (the description is dropped), and so do we.
          const name = await this.str('a pre-GA function');
          const engine = await this.str('a pre-GA function');
          if ((await this.len('a pre-GA function')) !== 0) await this.str('a pre-GA function description');
          const body = await this.str('a pre-GA function');
          const header = Buffer.from(
            `#!${engine.toString('latin1')} name=${name.toString('latin1')}\n`,
            'latin1',
          );
          yield { kind: 'function', code: Buffer.concat([header, body]) };
          continue;
        }
        case C.RDB_OPCODE_MODULE_AUX: {
          let id: bigint | undefined;
          while ((id = src.tryBigLength()) === undefined) await src.fill(src.short, 'MODULE_AUX');
          const whenOpcode = await this.len('MODULE_AUX');
          if (whenOpcode !== C.RDB_MODULE_OPCODE_UINT)
            src.fail(`MODULE_AUX "when" has opcode ${whenOpcode}, not UINT`);
          const when = await this.len('MODULE_AUX');
          // the module's data, annotated with opcodes like a MODULE_2 value
          await this.skipModuleOpcodes(moduleName(id));
          yield { kind: 'module-aux', moduleId: id, name: moduleName(id), when };
          continue;
        }
        case C.RDB_OPCODE_SLOT_INFO: {
          const slot = await this.len('SLOT_INFO');
          const size = await this.len('SLOT_INFO');
          const expiresSize = await this.len('SLOT_INFO');
          yield { kind: 'slot-info', slot, size, expiresSize };
          continue;
        }
        default: {
          const info = C.RDB_TYPES.get(op);
          if (!info) {
            if (op === C.RDB_TYPE_MODULE_PRE_GA) {
              const key = await this.str('a key');
              throw unsupported(
                'a module value in the pre-GA format (Redis 4.0 release candidates) cannot be read without its module',
                { offset: opAt, key },
              );
            }
            src.fail(`unknown opcode or value type ${op}`, opAt);
          }
          const key = await this.str('a key');
          src.key = key;
          const { encoding, hint } = await this.peekValue(op, info.encoding);
          const entry = new KeyEntry(
            this.db,
            key,
            op,
            info.type,
            encoding,
            expireAt,
            idle,
            freq,
            opAt,
            hint,
            this.drive,
            (decode, state) => {
              const o = { ...vopts, decode };
              const gen = readValue(src, op, o);
              const start = src.offset;
              // copy the reader's findings (emptiness, size) to the entry once it is done
              return (function* () {
                yield* gen;
                if (o.empty) state.empty = true;
                state.bytes = src.offset - start;
              })();
            },
            this.opts,
          );
          expireAt = undefined;
          idle = undefined;
          freq = undefined;
          yield entry;
          if (!entry.consumed) await entry.skip();
        }
      }
    }
  }

  /** The encoding and size hint of the value at the current position, without consuming it. */
  private async peekValue(
    rdbType: number,
    encoding: string,
  ): Promise<{ encoding: string; hint: { elements?: number; bytes?: number } }> {
    const src: ByteSource = this.src;
    await src.fill(1, 'a value');
    if (src.avail() < 17) await src.fill(17).catch(() => {}); // near the end of input: the value reader says what is missing
    const start = src.pos;
    try {
      if (rdbType === C.RDB_TYPE_HASH_METADATA || rdbType === C.RDB_TYPE_HASH_LISTPACK_EX) src.pos += 8;
      const n = src.avail() > 0 ? src.tryLength() : -1;
      if (n < 0) return { encoding, hint: {} };
      if (rdbType === C.RDB_TYPE_STRING) {
        return src.encoded
          ? { encoding: n === C.RDB_ENC_LZF ? 'lzf' : 'int', hint: {} }
          : { encoding, hint: { bytes: n } };
      }
      if (BLOB_TYPES.has(rdbType)) return { encoding, hint: src.encoded ? {} : { bytes: n } };
      if (ELEMENT_TYPES.has(rdbType)) return { encoding, hint: { elements: n } };
      return { encoding, hint: {} };
    } catch {
      return { encoding, hint: {} }; // the value reader reports the corruption with its context
    } finally {
      src.pos = start;
    }
  }

  private async skipModuleOpcodes(name: string): Promise<void> {
    const src: ByteSource = this.src;
    for (;;) {
      const opcode = await this.len('module data');
      if (opcode === C.RDB_MODULE_OPCODE_EOF) return;
      if (opcode === C.RDB_MODULE_OPCODE_SINT || opcode === C.RDB_MODULE_OPCODE_UINT) {
        while (src.tryBigLength() === undefined) await src.fill(src.short, 'module data');
      } else if (opcode === C.RDB_MODULE_OPCODE_FLOAT) await this.bytes(4, 'module data');
      else if (opcode === C.RDB_MODULE_OPCODE_DOUBLE) await this.bytes(8, 'module data');
      else if (opcode === C.RDB_MODULE_OPCODE_STRING) await this.str('module data');
      else src.fail(`unknown module opcode ${opcode} in data of module ${name}`);
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

/** Parses an RDB file, reading it in 1 MB chunks. */
export function parseRdbFile(path: string, options?: ParseOptions): AsyncGenerator<RdbEntry> {
  return parseRdb(createReadStream(path, { highWaterMark: 1 << 20 }), options);
}
