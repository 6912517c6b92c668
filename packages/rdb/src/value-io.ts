// What the value readers share: the value types, the waits on a short window, compact blobs.
import { BlobError, type BlobItem, zipmapItems } from './blobs.js';
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
  /**
   * A Redis 8.6 stream's idempotent-producer (IDMP) state: its settings, and the producers with the
   * idempotency ids they recorded, in chunks (a stream's last chunks).
   */
  | {
      type: 'stream-idmp';
      /** IDMP duration (s) and maximum entries per producer, as the stream holds them. */
      durationS: number;
      maxEntries: number;
      /** Producer id → its idempotency ids with the stream id each was added as. */
      producers: Array<{ pid: Buffer; entries: Array<{ iid: Buffer; id: StreamId }> }>;
      /** All-time counts of ids added and of duplicates detected (set on the stream's last chunk). */
      iidsAdded?: number;
      iidsDuplicates?: number;
    }
  /**
   * A Redis 8.8 group's NACK zone: ids of its pending entries that a consumer gave back (XNACK) and
   * no consumer owns; each is in the group's PEL (stream-pel) with its delivery time and count.
   */
  | { type: 'stream-nack'; group: Buffer; ids: StreamId[] }
  /**
   * A Redis 8.8 ARRAY's elements (index as decimal text: up to 2^64 - 2), each as the server prints
   * it (integers and floats as text); `insertIndex` on the first chunk when the array has one.
   */
  | { type: 'array'; count: number; items: Array<[index: string, value: Buffer]>; insertIndex?: string }
  | { type: 'module'; moduleId: bigint; name: string; encver: number };

export interface ValueOptions {
  decode: boolean;
  /** Set when the value turns out empty (Redis skips such keys on load, and so must a migration). */
  empty?: boolean;
  chunkElements: number;
  chunkBytes: number;
  rdbVersion: number;
  /** The hash templates the file registered so far (RDB 15), by id: their field names. */
  templates?: ReadonlyMap<number, Buffer[]>;
}

/** Yields a number (bytes needed: fill, then resume) or a decoded chunk. */
export type ValueGen = Generator<number | ValueChunk, void, void>;

export function blobFail(src: ByteSource, at: number, what: string, err: unknown): never {
  if (err instanceof BlobError) src.fail(`${what}: ${err.message}`, at);
  throw err;
}

export function decodeBlob(
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
export function shallowCheck(
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
export function blobCount(blob: Buffer, kind: 'ziplist' | 'listpack' | 'intset' | 'zipmap'): number {
  if (kind === 'ziplist') return blob.readUInt16LE(8) === 0xffff ? 1 : blob.readUInt16LE(8);
  if (kind === 'listpack') return blob.readUInt16LE(4) === 0xffff ? 1 : blob.readUInt16LE(4);
  if (kind === 'intset') return blob.readUInt32LE(4);
  return blob[1] === 0xff ? 0 : 1;
}

export function parseScore(src: ByteSource, at: number, b: Buffer | number | bigint): number {
  if (typeof b !== 'object') return Number(b);
  const s = b.toString('latin1');
  const v = s === 'inf' || s === '+inf' ? Infinity : s === '-inf' ? -Infinity : Number(s);
  if (Number.isNaN(v)) src.fail(`zset score "${s}" is not a number`, at);
  return v;
}

export function streamId(ms: bigint, seq: bigint): StreamId {
  return `${ms}-${seq}`;
}

/* Waiting helpers: called only when the window runs dry (the fast path is the try* call inline). */
export function* waitString(src: ByteSource, skip: boolean): Generator<number, Buffer, void> {
  let s: Buffer | undefined;
  while ((s = src.tryString(skip)) === undefined) yield src.short;
  return s;
}
export function* waitLen(src: ByteSource): Generator<number, number, void> {
  let n: number;
  while ((n = src.tryPlainLength()) < 0) yield src.short;
  return n;
}
export function* waitBigLen(src: ByteSource): Generator<number, bigint, void> {
  let n: bigint | undefined;
  while ((n = src.tryBigLength()) === undefined) yield src.short;
  return n;
}
export function* waitBytes(src: ByteSource, n: number): Generator<number, Buffer, void> {
  let b: Buffer | undefined;
  while ((b = src.tryBytes(n)) === undefined) yield n;
  return b;
}
export function* waitU8(src: ByteSource): Generator<number, number, void> {
  let b: number;
  while ((b = src.tryU8()) < 0) yield 1;
  return b;
}
