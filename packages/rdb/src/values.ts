import { readArray } from './array-value.js';
import {
  type BlobItem,
  intsetItems,
  itemToBuffer,
  listpackItems,
  ziplistItems,
  zipmapItems,
} from './blobs.js';
import * as C from './constants.js';
import { readTemplateHash } from './hash-template-value.js';
import type { ByteSource } from './source.js';
import { readStream } from './stream-value.js';
import {
  blobCount,
  decodeBlob,
  parseScore,
  shallowCheck,
  type ValueChunk,
  type ValueGen,
  type ValueOptions,
  waitBytes,
  waitLen,
  waitString,
  waitU8,
} from './value-io.js';

export type { StreamGroupInfo, StreamId, ValueChunk, ValueGen, ValueOptions } from './value-io.js';

const CHUNK_STRING = 1 << 20;
/** Top-level strings above this are read and delivered in pieces. */
export const BIG_STRING = 8 << 20;

/** Collects decoded items and hands out a chunk when full. */
class Batch<T> {
  private items: T[] = [];
  private bytes = 0;
  constructor(
    private readonly o: ValueOptions,
    private readonly make: (items: T[]) => ValueChunk,
  ) {}
  add(item: T, size: number): ValueChunk | undefined {
    this.items.push(item);
    this.bytes += size;
    return this.items.length >= this.o.chunkElements || this.bytes >= this.o.chunkBytes
      ? this.flush()
      : undefined;
  }
  flush(): ValueChunk | undefined {
    if (this.items.length === 0) return undefined;
    const chunk = this.make(this.items);
    this.items = [];
    this.bytes = 0;
    return chunk;
  }
}

/**
 * Walks a string or compact-blob value synchronously (the raw path's common case): true when done,
 * false when the window is short (the caller rewinds), undefined for other types (use readValue).
 */
export function skipSimpleValue(src: ByteSource, rdbType: number, o: ValueOptions): boolean | undefined {
  if (rdbType === C.RDB_TYPE_STRING) return src.tryString(true) !== undefined;
  if (rdbType === C.RDB_TYPE_LIST_QUICKLIST_2) return quicklist2Sync(src, o) !== undefined;
  const kind = BLOB_KIND[rdbType];
  if (kind === undefined || rdbType === C.RDB_TYPE_HASH_LISTPACK_EX) return undefined;
  const blobAt = src.offset;
  const blob = src.tryString(false);
  if (blob === undefined) return false;
  shallowCheck(src, blobAt, `${kind} value`, blob, kind);
  if (blobCount(blob, kind) === 0) o.empty = true;
  return true;
}

/**
 * A QUICKLIST_2 list read synchronously: decoded in bounded chunks (decodeSync) or, without
 * `o.decode`, only walked and checked (the raw path). Undefined when the window is short.
 */
export function quicklist2Sync(src: ByteSource, o: ValueOptions): ValueChunk[] | undefined {
  const nodes = src.tryPlainLength();
  if (nodes < 0) return undefined;
  const out: ValueChunk[] = [];
  // the same Batch as the streaming reader, so chunk boundaries are identical either way
  const batch = new Batch<Buffer>(o, (items) => ({ type: 'list', items }));
  const add = (item: Buffer): void => {
    const chunk = batch.add(item, item.length);
    if (chunk) out.push(chunk);
  };
  let elements = 0;
  for (let i = 0; i < nodes; i++) {
    const container = src.tryPlainLength();
    if (container < 0) return undefined;
    if (container !== C.QUICKLIST_NODE_CONTAINER_PACKED && container !== C.QUICKLIST_NODE_CONTAINER_PLAIN) {
      src.fail(`quicklist node container ${container} is neither PLAIN (1) nor PACKED (2)`);
    }
    const nodeAt = src.offset;
    const node = src.tryString(false);
    if (node === undefined) return undefined;
    if (container === C.QUICKLIST_NODE_CONTAINER_PLAIN) {
      elements++;
      if (o.decode) add(node);
    } else {
      shallowCheck(src, nodeAt, 'quicklist listpack node', node, 'listpack');
      elements += blobCount(node, 'listpack');
      if (o.decode) {
        for (const item of decodeBlob(src, nodeAt, 'quicklist listpack node', node, listpackItems))
          add(itemToBuffer(item));
      }
    }
  }
  const last = batch.flush();
  if (last) out.push(last);
  if (elements === 0) o.empty = true;
  return out;
}

export const BLOB_KIND: Record<number, 'ziplist' | 'listpack' | 'intset' | 'zipmap'> = {
  [C.RDB_TYPE_LIST_ZIPLIST]: 'ziplist',
  [C.RDB_TYPE_ZSET_ZIPLIST]: 'ziplist',
  [C.RDB_TYPE_HASH_ZIPLIST]: 'ziplist',
  [C.RDB_TYPE_SET_INTSET]: 'intset',
  [C.RDB_TYPE_HASH_ZIPMAP]: 'zipmap',
  [C.RDB_TYPE_SET_LISTPACK]: 'listpack',
  [C.RDB_TYPE_ZSET_LISTPACK]: 'listpack',
  [C.RDB_TYPE_HASH_LISTPACK]: 'listpack',
  [C.RDB_TYPE_HASH_LISTPACK_EX_PRE_GA]: 'listpack',
};

/**
 * Decodes a compact blob (ziplist, listpack, intset, zipmap) into bounded chunks, synchronously:
 * the blob is in memory already and bounded by the server's *-max-listpack-* settings.
 */
export function blobChunks(
  src: ByteSource,
  rdbType: number,
  kind: 'ziplist' | 'listpack' | 'intset' | 'zipmap',
  blob: Buffer,
  blobAt: number,
  o: ValueOptions,
): ValueChunk[] {
  const what = `${kind} value`;
  const fn =
    kind === 'intset'
      ? intsetItems
      : kind === 'zipmap'
        ? zipmapItems
        : kind === 'ziplist'
          ? ziplistItems
          : listpackItems;
  const items = decodeBlob(src, blobAt, what, blob, fn);
  if (items.length === 0) o.empty = true;
  const out: ValueChunk[] = [];
  const per = o.chunkElements;
  if (
    rdbType === C.RDB_TYPE_LIST_ZIPLIST ||
    rdbType === C.RDB_TYPE_SET_INTSET ||
    rdbType === C.RDB_TYPE_SET_LISTPACK
  ) {
    const type = rdbType === C.RDB_TYPE_LIST_ZIPLIST ? 'list' : 'set';
    for (let i = 0; i < items.length; i += per) {
      const end = Math.min(items.length, i + per);
      const chunk: Buffer[] = new Array(end - i);
      for (let j = i; j < end; j++) chunk[j - i] = itemToBuffer(items[j] as BlobItem);
      out.push({ type, items: chunk });
    }
    return out;
  }
  const withTtl = rdbType === C.RDB_TYPE_HASH_LISTPACK_EX || rdbType === C.RDB_TYPE_HASH_LISTPACK_EX_PRE_GA;
  const step = withTtl ? 3 : 2;
  if (items.length % step !== 0)
    src.fail(`${what} has ${items.length} entries, not a multiple of ${step}`, blobAt);
  const zset = rdbType === C.RDB_TYPE_ZSET_ZIPLIST || rdbType === C.RDB_TYPE_ZSET_LISTPACK;
  for (let i = 0; i < items.length; i += step * per) {
    const end = Math.min(items.length, i + step * per);
    if (zset) {
      const chunk: Array<[Buffer, number]> = [];
      for (let j = i; j < end; j += 2)
        chunk.push([itemToBuffer(items[j] as BlobItem), parseScore(src, blobAt, items[j + 1] as BlobItem)]);
      out.push({ type: 'zset', items: chunk });
    } else {
      const chunk: Array<[Buffer, Buffer, number]> = [];
      for (let j = i; j < end; j += step) {
        chunk.push([
          itemToBuffer(items[j] as BlobItem),
          itemToBuffer(items[j + 1] as BlobItem),
          withTtl ? Number(items[j + 2]) : 0,
        ]);
      }
      out.push({ type: 'hash', items: chunk });
    }
  }
  return out;
}

/**
 * Parses one value of `rdbType` from the source. In decode mode it yields decoded chunks of at most
 * `chunkElements` elements (or `chunkBytes` bytes); otherwise it only walks the value. Whenever the
 * window runs dry it yields the number of bytes it needs and continues after the driver refilled.
 */
export function* readValue(src: ByteSource, rdbType: number, o: ValueOptions): ValueGen {
  const decode = o.decode;
  const at = src.offset;

  const skip = !decode;

  switch (rdbType) {
    case C.RDB_TYPE_STRING: {
      // peek at the header: big plain strings are delivered in pieces
      const start = src.pos;
      let n: number;
      while ((n = src.tryLength()) < 0) yield src.short;
      if (!src.encoded && n > BIG_STRING) {
        for (let off = 0; off < n; off += CHUNK_STRING) {
          const piece =
            src.tryBytes(Math.min(CHUNK_STRING, n - off)) ??
            (yield* waitBytes(src, Math.min(CHUNK_STRING, n - off)));
          if (decode) yield { type: 'string', data: piece, offset: off, length: n };
        }
        return;
      }
      src.pos = start;
      const s = src.tryString(skip) ?? (yield* waitString(src, skip));
      if (decode) yield { type: 'string', data: s, offset: 0, length: s.length };
      return;
    }

    case C.RDB_TYPE_LIST:
    case C.RDB_TYPE_SET: {
      const type = rdbType === C.RDB_TYPE_LIST ? 'list' : 'set';
      let n = src.tryPlainLength();
      if (n < 0) n = yield* waitLen(src);
      if (n === 0) o.empty = true;
      const batch = new Batch<Buffer>(o, (items) => ({ type, items }));
      for (let i = 0; i < n; i++) {
        const e = src.tryString(skip) ?? (yield* waitString(src, skip));
        if (decode) {
          const c = batch.add(e, e.length);
          if (c) yield c;
        }
      }
      if (decode) {
        const c = batch.flush();
        if (c) yield c;
      }
      return;
    }

    case C.RDB_TYPE_ZSET:
    case C.RDB_TYPE_ZSET_2: {
      let n = src.tryPlainLength();
      if (n < 0) n = yield* waitLen(src);
      if (n === 0) o.empty = true;
      const batch = new Batch<[Buffer, number]>(o, (items) => ({ type: 'zset', items }));
      for (let i = 0; i < n; i++) {
        const member = src.tryString(skip) ?? (yield* waitString(src, skip));
        let score: number;
        if (rdbType === C.RDB_TYPE_ZSET_2) {
          score = (src.tryBytes(8) ?? (yield* waitBytes(src, 8))).readDoubleLE(0);
        } else {
          let l = src.tryU8();
          if (l < 0) l = yield* waitU8(src);
          if (l === 253) src.fail('zset score is NaN');
          if (l === 254) score = Infinity;
          else if (l === 255) score = -Infinity;
          else {
            const text = (src.tryBytes(l) ?? (yield* waitBytes(src, l))).toString('latin1');
            score = Number(text);
            if (Number.isNaN(score)) src.fail(`zset score "${text}" is not a number`);
          }
        }
        if (Number.isNaN(score)) src.fail('zset score is NaN');
        if (decode) {
          const c = batch.add([member, score], member.length + 8);
          if (c) yield c;
        }
      }
      if (decode) {
        const c = batch.flush();
        if (c) yield c;
      }
      return;
    }

    case C.RDB_TYPE_HASH:
    case C.RDB_TYPE_HASH_METADATA:
    case C.RDB_TYPE_HASH_METADATA_PRE_GA: {
      let minExpire = 0n;
      if (rdbType === C.RDB_TYPE_HASH_METADATA)
        minExpire = (src.tryBytes(8) ?? (yield* waitBytes(src, 8))).readBigUInt64LE(0);
      let n = src.tryPlainLength();
      if (n < 0) n = yield* waitLen(src);
      if (n === 0) o.empty = true;
      const batch = new Batch<[Buffer, Buffer, number]>(o, (items) => ({ type: 'hash', items }));
      for (let i = 0; i < n; i++) {
        let expireAt = 0;
        if (rdbType !== C.RDB_TYPE_HASH) {
          let ttl = src.tryPlainLength();
          if (ttl < 0) ttl = yield* waitLen(src);
          expireAt =
            ttl === 0 ? 0 : rdbType === C.RDB_TYPE_HASH_METADATA ? Number(BigInt(ttl) + minExpire - 1n) : ttl;
        }
        const field = src.tryString(skip) ?? (yield* waitString(src, skip));
        const value = src.tryString(skip) ?? (yield* waitString(src, skip));
        if (decode) {
          const c = batch.add([field, value, expireAt], field.length + value.length);
          if (c) yield c;
        }
      }
      if (decode) {
        const c = batch.flush();
        if (c) yield c;
      }
      return;
    }

    case C.VALKEY_TYPE_HASH_2: {
      // Valkey 9.0 rdb.c: the field count, then field, value and the field's expiry as an 8-byte
      // millisecond time (rdbSaveMillisecondTime), -1 when the field has none
      let n = src.tryPlainLength();
      if (n < 0) n = yield* waitLen(src);
      if (n === 0) o.empty = true;
      const batch = new Batch<[Buffer, Buffer, number]>(o, (items) => ({ type: 'hash', items }));
      for (let i = 0; i < n; i++) {
        const field = src.tryString(skip) ?? (yield* waitString(src, skip));
        const value = src.tryString(skip) ?? (yield* waitString(src, skip));
        const t = src.tryBytes(8) ?? (yield* waitBytes(src, 8));
        const expiry = t.readInt32LE(4) * 4294967296 + t.readUInt32LE(0);
        if (expiry < -1) src.fail(`hash field expiry ${expiry} is below -1 (none)`);
        if (decode) {
          const c = batch.add([field, value, Math.max(expiry, 0)], field.length + value.length);
          if (c) yield c;
        }
      }
      if (decode) {
        const c = batch.flush();
        if (c) yield c;
      }
      return;
    }

    case C.RDB_TYPE_LIST_ZIPLIST:
    case C.RDB_TYPE_SET_INTSET:
    case C.RDB_TYPE_SET_LISTPACK:
    case C.RDB_TYPE_ZSET_ZIPLIST:
    case C.RDB_TYPE_ZSET_LISTPACK:
    case C.RDB_TYPE_HASH_ZIPLIST:
    case C.RDB_TYPE_HASH_LISTPACK:
    case C.RDB_TYPE_HASH_ZIPMAP:
    case C.RDB_TYPE_HASH_LISTPACK_EX:
    case C.RDB_TYPE_HASH_LISTPACK_EX_PRE_GA: {
      if (rdbType === C.RDB_TYPE_HASH_LISTPACK_EX && !src.tryBytes(8)) yield* waitBytes(src, 8); // minimal field expiry, recomputed on load
      const blobAt = src.offset;
      // blobs are always read in full: they are bounded by the server's *-max-*-entries/value settings
      const blob = src.tryString(false) ?? (yield* waitString(src, false));
      const kind = BLOB_KIND[rdbType] ?? 'listpack';
      shallowCheck(src, blobAt, `${kind} value`, blob, kind);
      if (blobCount(blob, kind) === 0) o.empty = true;
      if (!decode) return;
      for (const chunk of blobChunks(src, rdbType, kind, blob, blobAt, o)) yield chunk;
      return;
    }

    case C.RDB_TYPE_LIST_QUICKLIST:
    case C.RDB_TYPE_LIST_QUICKLIST_2: {
      let nodes = src.tryPlainLength();
      if (nodes < 0) nodes = yield* waitLen(src);
      let elements = 0;
      const batch = new Batch<Buffer>(o, (items) => ({ type: 'list', items }));
      for (let i = 0; i < nodes; i++) {
        let container = C.QUICKLIST_NODE_CONTAINER_PACKED;
        if (rdbType === C.RDB_TYPE_LIST_QUICKLIST_2) {
          container = src.tryPlainLength();
          if (container < 0) container = yield* waitLen(src);
          if (
            container !== C.QUICKLIST_NODE_CONTAINER_PACKED &&
            container !== C.QUICKLIST_NODE_CONTAINER_PLAIN
          ) {
            src.fail(`quicklist node container ${container} is neither PLAIN (1) nor PACKED (2)`);
          }
        }
        const nodeAt = src.offset;
        const node = src.tryString(false) ?? (yield* waitString(src, false));
        if (container === C.QUICKLIST_NODE_CONTAINER_PLAIN) {
          elements++;
          if (decode) {
            const c = batch.add(node, node.length);
            if (c) yield c;
          }
          continue;
        }
        const kind = rdbType === C.RDB_TYPE_LIST_QUICKLIST ? 'ziplist' : 'listpack';
        shallowCheck(src, nodeAt, `quicklist ${kind} node`, node, kind);
        // Redis skips empty nodes silently; a list left with none is an empty key
        elements += blobCount(node, kind);
        if (!decode) continue;
        const items = decodeBlob(
          src,
          nodeAt,
          `quicklist ${kind} node`,
          node,
          kind === 'ziplist' ? ziplistItems : listpackItems,
        );
        for (const item of items) {
          const b = itemToBuffer(item);
          const c = batch.add(b, b.length);
          if (c) yield c;
        }
      }
      if (elements === 0) o.empty = true;
      if (decode) {
        const c = batch.flush();
        if (c) yield c;
      }
      return;
    }

    case C.RDB_TYPE_STREAM_LISTPACKS:
    case C.RDB_TYPE_STREAM_LISTPACKS_2:
    case C.RDB_TYPE_STREAM_LISTPACKS_3:
    case C.RDB_TYPE_STREAM_LISTPACKS_4:
    case C.RDB_TYPE_STREAM_LISTPACKS_5: {
      yield* readStream(src, rdbType, o);
      return;
    }

    case C.RDB_TYPE_ARRAY: {
      yield* readArray(src, o);
      return;
    }

    case C.RDB_TYPE_HASH_TMPL_LP:
    case C.RDB_TYPE_HASH_TMPL_LP_REF:
    case C.RDB_TYPE_HASH_TMPL_ARRAY:
    case C.RDB_TYPE_HASH_TMPL_ARRAY_REF: {
      yield* readTemplateHash(src, rdbType, o);
      return;
    }

    case C.RDB_TYPE_MODULE_2: {
      let raw: bigint | undefined;
      while ((raw = src.tryBigLength()) === undefined) yield src.short;
      const encver = Number(raw & 1023n);
      const name = moduleName(raw);
      for (;;) {
        const opcode = yield* waitLen(src);
        if (opcode === C.RDB_MODULE_OPCODE_EOF) break;
        if (opcode === C.RDB_MODULE_OPCODE_SINT || opcode === C.RDB_MODULE_OPCODE_UINT) {
          while (src.tryBigLength() === undefined) yield src.short;
        } else if (opcode === C.RDB_MODULE_OPCODE_FLOAT) yield* waitBytes(src, 4);
        else if (opcode === C.RDB_MODULE_OPCODE_DOUBLE) yield* waitBytes(src, 8);
        else if (opcode === C.RDB_MODULE_OPCODE_STRING) yield* waitString(src, skip);
        else src.fail(`unknown module opcode ${opcode} in a value of module ${name}`);
      }
      if (decode) yield { type: 'module', moduleId: raw, name, encver };
      return;
    }

    default:
      src.fail(`unknown value type ${rdbType}`, at - 1);
  }
}

const MODULE_CHARSET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** The 9-character module type name packed in a 64-bit module id (moduleTypeNameByID). */
export function moduleName(id: bigint): string {
  let name = '';
  let bits = id >> 10n;
  for (let i = 0; i < 9; i++) {
    name = (MODULE_CHARSET[Number(bits & 63n)] ?? '?') + name;
    bits >>= 6n;
  }
  return name;
}
