import {
  BlobError,
  type BlobItem,
  intsetItems,
  itemToBuffer,
  listpackItems,
  ziplistItems,
  zipmapItems,
} from './blobs.js';
import * as C from './constants.js';
import type { ByteSource } from './source.js';

/** A stream ID as Redis prints it: "<ms>-<seq>". */
export type StreamId = string;

export interface StreamGroupInfo {
  name: Buffer;
  lastId: StreamId;
  /** RDB 10+ (Redis 7.0): entries read by the group; -1 when the server did not know it. */
  entriesRead?: number;
}

/** A decoded part of a value: big values come in many chunks, small ones in one. */
export type ValueChunk =
  /** String bytes from `offset` (a big string comes in pieces). */
  | { type: 'string'; data: Buffer; offset: number; length: number }
  | { type: 'list'; items: Buffer[] }
  | { type: 'set'; items: Buffer[] }
  | { type: 'zset'; items: Array<[member: Buffer, score: number]> }
  /** Field, value and the field's absolute expiry in ms (0: none; Redis 7.4 hash-field TTLs). */
  | { type: 'hash'; items: Array<[field: Buffer, value: Buffer, expireAtMs: number]> }
  | { type: 'stream-entries'; entries: Array<{ id: StreamId; fields: Buffer[] }> }
  | {
      type: 'stream-meta';
      length: number;
      lastId: StreamId;
      firstId?: StreamId;
      maxDeletedId?: StreamId;
      entriesAdded?: number;
    }
  | { type: 'stream-group'; group: StreamGroupInfo }
  /** Pending entries of a group: id, last delivery time (ms), delivery count. */
  | {
      type: 'stream-pel';
      group: Buffer;
      pending: Array<{ id: StreamId; deliveryTime: number; deliveryCount: number }>;
    }
  /** A consumer and (part of) its pending ids; a consumer with many pending ids comes in several chunks. */
  | {
      type: 'stream-consumer';
      group: Buffer;
      name: Buffer;
      seenTime: number;
      activeTime?: number;
      pending: StreamId[];
    }
  | { type: 'module'; moduleId: bigint; name: string; encver: number };

export interface ValueOptions {
  decode: boolean;
  /** Set when the value turns out empty (Redis skips such keys on load, and so must a migration). */
  empty?: boolean;
  chunkElements: number;
  chunkBytes: number;
  rdbVersion: number;
}

/** Yields a number (bytes needed: fill, then resume) or a decoded chunk. */
export type ValueGen = Generator<number | ValueChunk, void, void>;

const CHUNK_STRING = 1 << 20;
/** Top-level strings above this are read and delivered in pieces. */
export const BIG_STRING = 8 << 20;

function blobFail(src: ByteSource, at: number, what: string, err: unknown): never {
  if (err instanceof BlobError) src.fail(`${what}: ${err.message}`, at);
  throw err;
}

function decodeBlob(
  src: ByteSource,
  at: number,
  what: string,
  blob: Buffer,
  fn: (b: Buffer) => BlobItem[],
): BlobItem[] {
  try {
    return fn(blob);
  } catch (err) {
    return blobFail(src, at, what, err);
  }
}

/** Shallow check of a compact blob (what Redis does on load without deep sanitization). */
function shallowCheck(
  src: ByteSource,
  at: number,
  what: string,
  blob: Buffer,
  kind: 'ziplist' | 'listpack' | 'intset' | 'zipmap',
): void {
  const bad = (m: string): never => src.fail(`${what}: ${m}`, at);
  if (kind === 'ziplist') {
    if (blob.length < 11 || blob.readUInt32LE(0) !== blob.length || blob[blob.length - 1] !== 0xff)
      bad('ziplist header does not match its size');
  } else if (kind === 'listpack') {
    if (blob.length < 7 || blob.readUInt32LE(0) !== blob.length || blob[blob.length - 1] !== 0xff)
      bad('listpack header does not match its size');
  } else if (kind === 'intset') {
    if (blob.length < 8) bad('intset is shorter than its header');
    const enc = blob.readUInt32LE(0);
    if ((enc !== 2 && enc !== 4 && enc !== 8) || 8 + enc * blob.readUInt32LE(4) !== blob.length)
      bad('intset header does not match its size');
  } else {
    // Redis validates zipmaps in full on every load (they are converted anyway): so do we
    try {
      zipmapItems(blob);
    } catch (err) {
      blobFail(src, at, what, err);
    }
  }
}

/** Element count from a compact blob's header (0xffff/unknown counts as non-empty). */
function blobCount(blob: Buffer, kind: 'ziplist' | 'listpack' | 'intset' | 'zipmap'): number {
  if (kind === 'ziplist') return blob.readUInt16LE(8) === 0xffff ? 1 : blob.readUInt16LE(8);
  if (kind === 'listpack') return blob.readUInt16LE(4) === 0xffff ? 1 : blob.readUInt16LE(4);
  if (kind === 'intset') return blob.readUInt32LE(4);
  return blob[1] === 0xff ? 0 : 1;
}

function parseScore(src: ByteSource, at: number, b: Buffer | number | bigint): number {
  if (typeof b !== 'object') return Number(b);
  const s = b.toString('latin1');
  const v = s === 'inf' || s === '+inf' ? Infinity : s === '-inf' ? -Infinity : Number(s);
  if (Number.isNaN(v)) src.fail(`zset score "${s}" is not a number`, at);
  return v;
}

function streamId(ms: bigint, seq: bigint): StreamId {
  return `${ms}-${seq}`;
}

/* Waiting helpers: called only when the window runs dry (the fast path is the try* call inline). */
function* waitString(src: ByteSource, skip: boolean): Generator<number, Buffer, void> {
  let s: Buffer | undefined;
  while ((s = src.tryString(skip)) === undefined) yield src.short;
  return s;
}
function* waitLen(src: ByteSource): Generator<number, number, void> {
  let n: number;
  while ((n = src.tryPlainLength()) < 0) yield src.short;
  return n;
}
function* waitBigLen(src: ByteSource): Generator<number, bigint, void> {
  let n: bigint | undefined;
  while ((n = src.tryBigLength()) === undefined) yield src.short;
  return n;
}
function* waitBytes(src: ByteSource, n: number): Generator<number, Buffer, void> {
  let b: Buffer | undefined;
  while ((b = src.tryBytes(n)) === undefined) yield n;
  return b;
}
function* waitU8(src: ByteSource): Generator<number, number, void> {
  let b: number;
  while ((b = src.tryU8()) < 0) yield 1;
  return b;
}

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
    case C.RDB_TYPE_STREAM_LISTPACKS_3: {
      yield* readStream(src, rdbType, o);
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

function* readStream(src: ByteSource, rdbType: number, o: ValueOptions): ValueGen {
  const decode = o.decode;
  const len = (): Generator<number, number, void> => waitLen(src);
  const bigLen = (): Generator<number, bigint, void> => waitBigLen(src);
  const bytes = (n: number): Generator<number, Buffer, void> => waitBytes(src, n);
  const id16 = (b: Buffer): StreamId => streamId(b.readBigUInt64BE(0), b.readBigUInt64BE(8));

  const listpacks = yield* len();
  let pending: Array<{ id: StreamId; fields: Buffer[] }> = [];
  let pendingBytes = 0;
  for (let i = 0; i < listpacks; i++) {
    const keyAt = src.offset;
    let master: Buffer | undefined;
    while ((master = src.tryString(false)) === undefined) yield src.short;
    if (master.length !== 16) src.fail(`stream node key of ${master.length} bytes, not 16`, keyAt);
    const lpAt = src.offset;
    let lp: Buffer | undefined;
    while ((lp = src.tryString(false)) === undefined) yield src.short;
    if (!decode) {
      if (lp.length < 7 || lp.readUInt32LE(0) !== lp.length || lp[lp.length - 1] !== 0xff) {
        src.fail('stream listpack header does not match its size', lpAt);
      }
      continue;
    }
    const items = decodeBlob(src, lpAt, 'stream listpack', lp, listpackItems);
    const masterMs = master.readBigUInt64BE(0);
    const masterSeq = master.readBigUInt64BE(8);
    const num = (k: number): bigint => {
      const v = items[k];
      if (v === undefined || Buffer.isBuffer(v))
        src.fail('stream listpack entry is not an integer where one is expected', lpAt);
      return BigInt(v);
    };
    // master entry: count, deleted, num-fields, fields…, 0
    if (items.length < 4) src.fail('stream listpack too short for its master entry', lpAt);
    const masterFields = Number(num(2));
    let k = 3 + masterFields;
    if (num(k) !== 0n) src.fail('stream master entry is not terminated by 0', lpAt);
    k++;
    const fieldsOfMaster = items.slice(3, 3 + masterFields).map(itemToBuffer);
    while (k < items.length) {
      const flags = Number(num(k));
      const ms = masterMs + num(k + 1);
      const seq = masterSeq + num(k + 2);
      k += 3;
      let fields: Buffer[];
      if (flags & 2) {
        // STREAM_ITEM_FLAG_SAMEFIELDS: values only
        fields = [];
        for (let f = 0; f < masterFields; f++) {
          const v = items[k + f];
          if (v === undefined) src.fail('stream entry runs past its listpack', lpAt);
          fields.push(fieldsOfMaster[f] as Buffer, itemToBuffer(v));
        }
        k += masterFields;
      } else {
        const n = Number(num(k));
        k++;
        if (k + 2 * n > items.length) src.fail('stream entry runs past its listpack', lpAt);
        fields = items.slice(k, k + 2 * n).map(itemToBuffer);
        k += 2 * n;
      }
      k++; // lp-count
      if (k > items.length) src.fail('stream entry runs past its listpack', lpAt);
      if (flags & 1) continue; // STREAM_ITEM_FLAG_DELETED
      pending.push({ id: streamId(ms, seq), fields });
      pendingBytes += fields.reduce((s, f) => s + f.length, 0);
      if (pending.length >= o.chunkElements || pendingBytes >= o.chunkBytes) {
        yield { type: 'stream-entries', entries: pending };
        pending = [];
        pendingBytes = 0;
      }
    }
  }
  if (decode && pending.length > 0) yield { type: 'stream-entries', entries: pending };

  const length = Number(yield* bigLen());
  const lastMs = yield* bigLen();
  const lastSeq = yield* bigLen();
  const meta: Extract<ValueChunk, { type: 'stream-meta' }> = {
    type: 'stream-meta',
    length,
    lastId: streamId(lastMs, lastSeq),
  };
  if (rdbType >= C.RDB_TYPE_STREAM_LISTPACKS_2) {
    meta.firstId = streamId(yield* bigLen(), yield* bigLen());
    meta.maxDeletedId = streamId(yield* bigLen(), yield* bigLen());
    meta.entriesAdded = Number(yield* bigLen());
  }
  if (decode) yield meta;

  const groups = yield* len();
  for (let g = 0; g < groups; g++) {
    let name: Buffer | undefined;
    while ((name = src.tryString(false)) === undefined) yield src.short;
    const group: StreamGroupInfo = { name, lastId: streamId(yield* bigLen(), yield* bigLen()) };
    if (rdbType >= C.RDB_TYPE_STREAM_LISTPACKS_2) {
      const read = yield* bigLen();
      group.entriesRead = read === 0xffffffffffffffffn ? -1 : Number(read); // SCG_INVALID_ENTRIES_READ
    }
    if (decode) yield { type: 'stream-group', group };
    const pelSize = yield* len();
    let pel: Array<{ id: StreamId; deliveryTime: number; deliveryCount: number }> = [];
    for (let p = 0; p < pelSize; p++) {
      const id = id16(yield* bytes(16));
      const deliveryTime = Number((yield* bytes(8)).readBigInt64LE(0));
      const deliveryCount = yield* len();
      if (decode) {
        pel.push({ id, deliveryTime, deliveryCount });
        if (pel.length >= o.chunkElements) {
          yield { type: 'stream-pel', group: name, pending: pel };
          pel = [];
        }
      }
    }
    if (decode && pel.length > 0) yield { type: 'stream-pel', group: name, pending: pel };
    const consumers = yield* len();
    for (let c = 0; c < consumers; c++) {
      let cname: Buffer | undefined;
      while ((cname = src.tryString(false)) === undefined) yield src.short;
      const seenTime = Number((yield* bytes(8)).readBigInt64LE(0));
      let activeTime: number | undefined;
      if (rdbType >= C.RDB_TYPE_STREAM_LISTPACKS_3) activeTime = Number((yield* bytes(8)).readBigInt64LE(0));
      const n = yield* len();
      let ids: StreamId[] = [];
      let sent = false;
      for (let p = 0; p < n; p++) {
        const id = id16(yield* bytes(16));
        if (decode) {
          ids.push(id);
          if (ids.length >= o.chunkElements) {
            yield {
              type: 'stream-consumer',
              group: name,
              name: cname,
              seenTime,
              ...(activeTime !== undefined ? { activeTime } : {}),
              pending: ids,
            };
            ids = [];
            sent = true;
          }
        }
      }
      if (decode && (ids.length > 0 || !sent)) {
        yield {
          type: 'stream-consumer',
          group: name,
          name: cname,
          seenTime,
          ...(activeTime !== undefined ? { activeTime } : {}),
          pending: ids,
        };
      }
    }
  }
}
