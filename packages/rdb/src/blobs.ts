/**
 * Decoders for the compact encodings Redis stores as one string: ziplist, listpack, intset and
 * zipmap. They check every length against the blob before reading and throw BlobError (which the
 * parser turns into RDB_CORRUPT with the offset and key) on anything malformed.
 */

import { viewAt } from './view.js';

export class BlobError extends Error {}

/** A compact-encoding element: bytes, or an integer the encoding stored as such. */
export type BlobItem = Buffer | number | bigint;

export function itemToBuffer(item: BlobItem): Buffer {
  if (typeof item === 'object') return item;
  if (typeof item === 'number') return intBytes(item);
  return Buffer.from(String(item), 'latin1');
}

/**
 * Integer elements as their decimal bytes, written into a shared 8 KB arena (like Node's own Buffer
 * pool, never written twice, so the views stay valid): no string and no allocation per element.
 */
let arena = new ArrayBuffer(0);
let arenaBytes = new Uint8Array(arena);
let arenaAt = 0;
const ARENA = 8 << 10;

function intBytes(n: number): Buffer {
  if (!Number.isSafeInteger(n)) return Buffer.from(String(n), 'latin1');
  if (arenaAt + 17 > arena.byteLength) {
    arena = new ArrayBuffer(ARENA);
    arenaBytes = new Uint8Array(arena);
    arenaAt = 0;
  }
  const start = arenaAt;
  let v = n;
  if (v < 0) {
    arenaBytes[arenaAt++] = 0x2d;
    v = -v;
  }
  let digits = 1;
  for (let x = v; x >= 10; x = Math.floor(x / 10)) digits++;
  let p = arenaAt + digits;
  arenaAt = p;
  do {
    const q = Math.floor(v / 10);
    arenaBytes[--p] = 48 + (v - q * 10);
    v = q;
  } while (v > 0);
  return viewAt(arena, start, arenaAt - start);
}

function check(cond: boolean, message: string): asserts cond {
  if (!cond) throw new BlobError(message);
}

function int64(buf: Buffer, at: number): number | bigint {
  const v = buf.readBigInt64LE(at);
  return v >= -9007199254740991n && v <= 9007199254740991n ? Number(v) : v;
}

/* ---------------- ziplist (ziplist.c) ---------------- */

export function ziplistItems(buf: Buffer): BlobItem[] {
  const ab = buf.buffer as ArrayBuffer; // views cut below: every bound is checked against buf first
  const bo = buf.byteOffset;
  check(buf.length >= 11, `ziplist of ${buf.length} bytes is shorter than its header`);
  const zlbytes = buf.readUInt32LE(0);
  check(zlbytes === buf.length, `ziplist says ${zlbytes} bytes but has ${buf.length}`);
  const zllen = buf.readUInt16LE(8);
  const items: BlobItem[] = [];
  let p = 10;
  for (;;) {
    check(p < buf.length, 'ziplist has no end marker');
    if (buf[p] === 0xff) break;
    // prevlen
    if (buf[p] === 0xfe) {
      check(p + 5 <= buf.length, 'ziplist prevlen runs past the end');
      p += 5;
    } else p += 1;
    check(p < buf.length, 'ziplist entry header runs past the end');
    const enc = buf[p] as number;
    const top = enc >> 6;
    if (top === 0) {
      const len = enc & 0x3f;
      p += 1;
      check(p + len <= buf.length, 'ziplist string runs past the end');
      items.push(viewAt(ab, bo + p, len));
      p += len;
    } else if (top === 1) {
      check(p + 2 <= buf.length, 'ziplist string header runs past the end');
      const len = ((enc & 0x3f) << 8) | (buf[p + 1] as number);
      p += 2;
      check(p + len <= buf.length, 'ziplist string runs past the end');
      items.push(viewAt(ab, bo + p, len));
      p += len;
    } else if (top === 2) {
      check(p + 5 <= buf.length, 'ziplist string header runs past the end');
      const len = buf.readUInt32BE(p + 1);
      p += 5;
      check(p + len <= buf.length, 'ziplist string runs past the end');
      items.push(viewAt(ab, bo + p, len));
      p += len;
    } else {
      p += 1;
      const need = (n: number): void => check(p + n <= buf.length, 'ziplist integer runs past the end');
      switch (enc) {
        case 0xc0:
          need(2);
          items.push(buf.readInt16LE(p));
          p += 2;
          break;
        case 0xd0:
          need(4);
          items.push(buf.readInt32LE(p));
          p += 4;
          break;
        case 0xe0:
          need(8);
          items.push(int64(buf, p));
          p += 8;
          break;
        case 0xf0:
          need(3);
          items.push(buf.readIntLE(p, 3));
          p += 3;
          break;
        case 0xfe:
          need(1);
          items.push(buf.readInt8(p));
          p += 1;
          break;
        default: {
          const imm = enc & 0x0f;
          check(enc >= 0xf1 && enc <= 0xfd, `ziplist has an unknown encoding byte 0x${enc.toString(16)}`);
          items.push(imm - 1);
        }
      }
    }
  }
  check(p === buf.length - 1, 'ziplist has bytes after its end marker');
  check(zllen === 0xffff || zllen === items.length, `ziplist says ${zllen} entries but has ${items.length}`);
  return items;
}

/* ---------------- listpack (listpack.c) ---------------- */

function backlenSize(len: number): number {
  return len <= 127 ? 1 : len < 16383 ? 2 : len < 2097151 ? 3 : len < 268435455 ? 4 : 5;
}

export function listpackItems(buf: Buffer): BlobItem[] {
  const ab = buf.buffer as ArrayBuffer; // views cut below: every bound is checked against buf first
  const bo = buf.byteOffset;
  check(buf.length >= 7, `listpack of ${buf.length} bytes is shorter than its header`);
  const total = buf.readUInt32LE(0);
  check(total === buf.length, `listpack says ${total} bytes but has ${buf.length}`);
  const count = buf.readUInt16LE(4);
  const items: BlobItem[] = [];
  let p = 6;
  for (;;) {
    check(p < buf.length, 'listpack has no end marker');
    const b = buf[p] as number;
    if (b === 0xff) break;
    const start = p;
    if ((b & 0x80) === 0) {
      items.push(b & 0x7f);
      p += 1;
    } else if ((b & 0xc0) === 0x80) {
      const len = b & 0x3f;
      check(p + 1 + len <= buf.length, 'listpack string runs past the end');
      items.push(viewAt(ab, bo + p + 1, len));
      p += 1 + len;
    } else if ((b & 0xe0) === 0xc0) {
      check(p + 2 <= buf.length, 'listpack integer runs past the end');
      const v = ((b & 0x1f) << 8) | (buf[p + 1] as number);
      items.push(v >= 4096 ? v - 8192 : v);
      p += 2;
    } else if ((b & 0xf0) === 0xe0) {
      check(p + 2 <= buf.length, 'listpack string header runs past the end');
      const len = ((b & 0x0f) << 8) | (buf[p + 1] as number);
      check(p + 2 + len <= buf.length, 'listpack string runs past the end');
      items.push(viewAt(ab, bo + p + 2, len));
      p += 2 + len;
    } else {
      const need = (n: number): void => check(p + n <= buf.length, 'listpack entry runs past the end');
      switch (b) {
        case 0xf0: {
          need(5);
          const len = buf.readUInt32LE(p + 1);
          need(5 + len);
          items.push(viewAt(ab, bo + p + 5, len));
          p += 5 + len;
          break;
        }
        case 0xf1:
          need(3);
          items.push(buf.readInt16LE(p + 1));
          p += 3;
          break;
        case 0xf2:
          need(4);
          items.push(buf.readIntLE(p + 1, 3));
          p += 4;
          break;
        case 0xf3:
          need(5);
          items.push(buf.readInt32LE(p + 1));
          p += 5;
          break;
        case 0xf4:
          need(9);
          items.push(int64(buf, p + 1));
          p += 9;
          break;
        default:
          throw new BlobError(`listpack has an unknown encoding byte 0x${b.toString(16)}`);
      }
    }
    p += backlenSize(p - start);
    check(p <= buf.length, 'listpack back-length runs past the end');
  }
  check(p === buf.length - 1, 'listpack has bytes after its end marker');
  check(count === 0xffff || count === items.length, `listpack says ${count} entries but has ${items.length}`);
  return items;
}

/* ---------------- intset (intset.c) ---------------- */

export function intsetItems(buf: Buffer): BlobItem[] {
  check(buf.length >= 8, `intset of ${buf.length} bytes is shorter than its header`);
  const enc = buf.readUInt32LE(0);
  const len = buf.readUInt32LE(4);
  check(enc === 2 || enc === 4 || enc === 8, `intset has an invalid encoding ${enc}`);
  check(8 + enc * len === buf.length, `intset says ${len} × ${enc} bytes but has ${buf.length - 8}`);
  const items: BlobItem[] = new Array(len);
  for (let i = 0; i < len; i++) {
    const at = 8 + i * enc;
    items[i] = enc === 2 ? buf.readInt16LE(at) : enc === 4 ? buf.readInt32LE(at) : int64(buf, at);
  }
  return items;
}

/* ---------------- zipmap (zipmap.c, Redis < 2.6) ---------------- */

export function zipmapItems(buf: Buffer): BlobItem[] {
  const ab = buf.buffer as ArrayBuffer; // views cut below: every bound is checked against buf first
  const bo = buf.byteOffset;
  check(buf.length >= 2, 'zipmap is shorter than its header');
  const items: BlobItem[] = [];
  let p = 1;
  const readLen = (): number | undefined => {
    check(p < buf.length, 'zipmap has no end marker');
    const b = buf[p] as number;
    if (b === 0xff) return undefined;
    if (b < 254) {
      p += 1;
      return b;
    }
    check(p + 5 <= buf.length, 'zipmap length runs past the end');
    const len = buf.readUInt32LE(p + 1);
    p += 5;
    return len;
  };
  for (;;) {
    const klen = readLen();
    if (klen === undefined) break;
    check(p + klen <= buf.length, 'zipmap key runs past the end');
    items.push(viewAt(ab, bo + p, klen));
    p += klen;
    const vlen = readLen();
    check(vlen !== undefined, 'zipmap key without a value');
    check(p < buf.length, 'zipmap value header runs past the end');
    const free = buf[p] as number;
    p += 1;
    check(p + vlen + free <= buf.length, 'zipmap value runs past the end');
    items.push(viewAt(ab, bo + p, vlen));
    p += vlen + free;
  }
  check(p === buf.length - 1, 'zipmap has bytes after its end marker');
  const zmlen = buf[0] as number;
  // 254 (ZIPMAP_BIGLEN) means "count it"; any other header must be the exact count (zipmapValidateIntegrity)
  check(
    zmlen === 254 || zmlen * 2 === items.length,
    `zipmap says ${zmlen} pairs but has ${items.length / 2}`,
  );
  return items;
}
