// Values held whole in memory (a RESTORE payload, a captured value), decoded without the parser.
import * as C from './constants.js';
import { lengthAt, lengthBytes } from './lengths.js';
import { ByteSource } from './source.js';
import {
  BIG_STRING,
  BLOB_KIND,
  blobChunks,
  quicklist2Sync,
  readValue,
  type ValueChunk,
  type ValueOptions,
} from './values.js';
import { view } from './view.js';

/** How big decoded chunks may be. */
export interface ChunkOptions {
  /** Elements per decoded chunk. Default 1024. */
  chunkElements?: number;
  /** Bytes per decoded chunk, roughly. Default 1 MB. */
  chunkBytes?: number;
  /** The hash templates of the file the value comes from (RDB 15's REF forms name them). */
  templates?: ReadonlyMap<number, Buffer[]>;
}

/** Value types stored as one compact blob (ziplist, listpack, intset, zipmap). */
export const BLOB_TYPES = new Set([
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
export const ELEMENT_TYPES = new Set([
  C.RDB_TYPE_LIST,
  C.RDB_TYPE_SET,
  C.RDB_TYPE_ZSET,
  C.RDB_TYPE_ZSET_2,
  C.RDB_TYPE_HASH,
  C.RDB_TYPE_HASH_METADATA_PRE_GA,
  C.RDB_TYPE_HASH_METADATA,
  C.VALKEY_TYPE_HASH_2,
]);

/** A plain (not int- or LZF-encoded) string whose header and bytes fill `value` exactly, else undefined. */
function plainString(value: Buffer): Buffer | undefined {
  const b = value[0];
  if (b === undefined) return undefined;
  const header = lengthBytes(b);
  if (header === 0 || header === 9) return undefined; // encoded, or a 64-bit length: the general path
  const len = lengthAt(value, 0);
  return len >= 0 && header + len === value.length ? view(value, header, value.length) : undefined;
}

/** A source and reader options over one value held in memory. */
function inMemory(
  value: Buffer,
  key: Buffer | undefined,
  options: ChunkOptions,
): { src: ByteSource; o: ValueOptions } {
  const src: ByteSource = ByteSource.of(value);
  src.key = key;
  const o: ValueOptions = {
    decode: true,
    chunkElements: options.chunkElements ?? 1024,
    chunkBytes: options.chunkBytes ?? 1 << 20,
    rdbVersion: C.RDB_VERSION_MAX,
    ...(options.templates ? { templates: options.templates } : {}),
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
  options: ChunkOptions = {},
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
  o.templates = options.templates;
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
  options: ChunkOptions = {},
): AsyncGenerator<ValueChunk> {
  const { src, o } = inMemory(value, key, options);
  yield* readInMemory(src, rdbType, o);
}
