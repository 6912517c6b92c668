// The entries an RDB parser yields; a key's value is read through the parser (ValueReader).

import type * as C from './constants.js';
import { type ChunkOptions, decodeBuffer, decodeSync } from './decode.js';
import type { ValueChunk } from './values.js';

export interface ParseOptions extends ChunkOptions {
  /** Serialized values up to this size are captured for RESTORE; bigger ones must be decoded. Default 32 MB. */
  rawLimit?: number;
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

/** readRawSync's answer when the value reaches past the window (nothing was consumed). */
export const NEEDS_IO = Symbol('needs-io');

/** How a KeyEntry's value gets read: implemented by the parser, kept off the entry so entries stay small. */
export interface ValueReader {
  readRawSync(e: KeyEntry): Buffer | undefined | typeof NEEDS_IO;
  readRaw(e: KeyEntry): Promise<Buffer | undefined>;
  readChunks(e: KeyEntry): AsyncGenerator<ValueChunk>;
  skip(e: KeyEntry): Promise<void>;
  readonly chunkOptions: ChunkOptions;
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
  /**
   * Module key-metadata classes attached to the key (Redis 8.6's RDB_OPCODE_KEY_META), as
   * "META-<name>". A migration does not carry them: the value's payload is the value alone.
   */
  keyMeta: string[] | undefined;
  private rawValue: Buffer | undefined;

  constructor(
    private readonly reader: ValueReader,
    readonly db: number,
    readonly key: Buffer,
    /** RDB value type (RDB_TYPE_*; a Valkey-only type has its own code, `& 0xff` is its byte). */
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
