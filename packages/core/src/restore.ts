import { FerryError } from '@ferry/errors';
import { Crc64, lzfDecompressInto } from '@ferry/rdb';

const RESTORE = Buffer.from('$7\r\nRESTORE\r\n', 'latin1');
const REPLACE = Buffer.from('$7\r\nREPLACE\r\n', 'latin1');
const ABSTTL = Buffer.from('$6\r\nABSTTL\r\n', 'latin1');
const SET = Buffer.from('$3\r\nSET\r\n', 'latin1');
const PXAT = Buffer.from('$4\r\nPXAT\r\n', 'latin1');
const PX = Buffer.from('$2\r\nPX\r\n', 'latin1');
const NX = Buffer.from('$2\r\nNX\r\n', 'latin1');
const MSET = Buffer.from('$4\r\nMSET\r\n', 'latin1');
const MSETNX = Buffer.from('$6\r\nMSETNX\r\n', 'latin1');
/** One checksum state for every payload (reset per payload): no object a key. */
const crc = new Crc64();

/**
 * Writes a non-negative integer's decimal digits at `o`; returns the new offset. By arithmetic, not
 * `String(n)`: three numbers a key (lengths, TTL) made that a tenth of the snapshot's CPU.
 */
function digits(out: Buffer, o: number, n: number): number {
  const end = o + digitCount(n);
  let p = end;
  while (n >= 10) {
    // exact below 2^53: a rounded-up quotient is corrected by the remainder's sign
    let q = Math.floor(n / 10);
    let r = n - q * 10;
    if (r < 0) {
      q--;
      r += 10;
    }
    out[--p] = 48 + r;
    n = q;
  }
  out[--p] = 48 + n;
  return end;
}

function digitCount(n: number): number {
  let d = 1;
  for (let x = n; x >= 10; x = Math.floor(x / 10)) d++;
  return d;
}

/** `$<len>\r\n` at `o`; returns the new offset. (A function, not a closure over `o`: a closure made a context and a function object a key, an eighth of the snapshot's allocations.) */
function bulkHeader(out: Buffer, o: number, len: number): number {
  out[o++] = 36; // $
  o = digits(out, o, len);
  out[o++] = 13;
  out[o++] = 10;
  return o;
}

/** One `RESTORE key ttl payload [REPLACE] [ABSTTL]`: what it carries. */
export interface RestoreItem {
  key: Buffer;
  ttl: number;
  rdbType: number;
  /** The serialized value as the RDB holds it (without type byte, version and CRC). */
  value: Buffer;
  replace: boolean;
  absttl: boolean;
  /**
   * The decoded string, when the key goes as `SET key value [PXAT|PX ttl] [NX]` instead: a small
   * string's cheapest form for the target (no DUMP payload to check, no CRC64 to compute here).
   * `absttl` then picks PXAT over PX, and `replace: false` adds NX (a nil reply: the key existed).
   */
  set?: Buffer | undefined;
}

/** The RESP size of a RESTORE of `it`. */
export function restoreSize(it: RestoreItem): number {
  if (it.set) return setSize(it, it.set);
  const ttlDigits = digitCount(it.ttl);
  const payload = 1 + it.value.length + 10;
  return (
    4 + // *N\r\n (N < 10)
    RESTORE.length +
    (3 + digitCount(it.key.length) + it.key.length + 2) +
    (3 + digitCount(ttlDigits) + ttlDigits + 2) +
    (3 + digitCount(payload) + payload + 2) +
    (it.replace ? REPLACE.length : 0) +
    (it.absttl ? ABSTTL.length : 0)
  );
}

/**
 * Writes a RESTORE of `it` as RESP at `o` in `out` (sized with restoreSize), the DUMP payload (type
 * byte, value, RDB version, CRC64) built in place; returns the offset after it.
 */
export function writeRestore(out: Buffer, o: number, it: RestoreItem, rdbVersion: number): number {
  if (it.set) return writeSet(out, o, it, it.set);
  const { key, ttl, value } = it;
  const ttlDigits = digitCount(ttl);
  const payload = 1 + value.length + 10;
  out[o++] = 42; // *
  out[o++] = 48 + 4 + (it.replace ? 1 : 0) + (it.absttl ? 1 : 0);
  out[o++] = 13;
  out[o++] = 10;
  o += RESTORE.copy(out, o);
  o = bulkHeader(out, o, key.length);
  o += key.copy(out, o);
  out[o++] = 13;
  out[o++] = 10;
  o = bulkHeader(out, o, ttlDigits);
  o = digits(out, o, ttl);
  out[o++] = 13;
  out[o++] = 10;
  o = bulkHeader(out, o, payload);
  const byte = it.rdbType & 0xff; // a Valkey-only type's parser code carries its byte in the low 8 bits
  out[o++] = byte;
  o += value.copy(out, o);
  out[o++] = rdbVersion & 0xff;
  out[o++] = rdbVersion >>> 8;
  crc.dumpBody(byte, value, rdbVersion);
  out.writeUInt32LE(crc.lo >>> 0, o);
  out.writeUInt32LE(crc.hi >>> 0, o + 4);
  o += 8;
  out[o++] = 13;
  out[o++] = 10;
  if (it.replace) o += REPLACE.copy(out, o);
  if (it.absttl) o += ABSTTL.copy(out, o);
  return o;
}

function setSize(it: RestoreItem, data: Buffer): number {
  let n =
    4 +
    SET.length +
    (3 + digitCount(it.key.length) + it.key.length + 2) +
    (3 + digitCount(data.length) + data.length + 2);
  if (it.ttl > 0) {
    const ttlDigits = digitCount(it.ttl);
    n += (it.absttl ? PXAT.length : PX.length) + 3 + digitCount(ttlDigits) + ttlDigits + 2;
  }
  return n + (it.replace ? 0 : NX.length);
}

function writeSet(out: Buffer, o: number, it: RestoreItem, data: Buffer): number {
  const { key, ttl } = it;
  out[o++] = 42; // *
  out[o++] = 48 + 3 + (ttl > 0 ? 2 : 0) + (it.replace ? 0 : 1);
  out[o++] = 13;
  out[o++] = 10;
  o += SET.copy(out, o);
  o = bulkHeader(out, o, key.length);
  o += key.copy(out, o);
  out[o++] = 13;
  out[o++] = 10;
  o = bulkHeader(out, o, data.length);
  o += data.copy(out, o);
  out[o++] = 13;
  out[o++] = 10;
  if (ttl > 0) {
    o += (it.absttl ? PXAT : PX).copy(out, o);
    o = bulkHeader(out, o, digitCount(ttl));
    o = digits(out, o, ttl);
    out[o++] = 13;
    out[o++] = 10;
  }
  if (!it.replace) o += NX.copy(out, o);
  return o;
}

/**
 * Many RESTOREs encoded back to back in one allocation: the snapshot's hot path, where a buffer per
 * command (and joining them for the socket) would copy every value twice more.
 */
export function encodeRestores(items: readonly RestoreItem[], rdbVersion: number): Buffer {
  let size = 0;
  for (const it of items) size += restoreSize(it);
  const out = Buffer.allocUnsafe(size);
  let o = 0;
  for (const it of items) o = writeRestore(out, o, it, rdbVersion);
  return out;
}

/** Where an LZF-compressed string's data sits in its RDB value (`value`), and its lengths. */
export interface LzfValue {
  at: number;
  clen: number;
  len: number;
}

/** A string for MSET: decoded (`set`), or still LZF-compressed in `value` (`lzf`). */
export interface MsetItem {
  key: Buffer;
  value: Buffer;
  set?: Buffer | undefined;
  lzf?: LzfValue | undefined;
}

/** Keys one MSET / MSETNX carries: a command per this many keys instead of one per key. */
export const MSET_KEYS = 128;

/**
 * Plain strings without an expiry as `MSET` (`MSETNX` when existing keys must not be replaced), up to
 * MSET_KEYS pairs a command, back to back in one allocation. On 1 M strings of 100 bytes the target
 * spends about a third less CPU than on a `SET … NX` each, and Ferry reads one reply per command.
 * Returns the buffer and how many commands it holds (command i carries items i·MSET_KEYS…).
 */
export function encodeMsets(
  items: ReadonlyArray<MsetItem>,
  replace: boolean,
): { wire: Buffer; commands: number } {
  const name = replace ? MSET : MSETNX;
  let size = 0;
  let commands = 0;
  for (let i = 0; i < items.length; i += MSET_KEYS) {
    const n = Math.min(MSET_KEYS, items.length - i);
    size += 3 + digitCount(1 + 2 * n) + name.length;
    commands++;
  }
  for (const it of items) {
    const len = it.set ? it.set.length : (it.lzf as LzfValue).len;
    size += 3 + digitCount(it.key.length) + it.key.length + 2 + 3 + digitCount(len) + len + 2;
  }
  const out = Buffer.allocUnsafe(size);
  let o = 0;
  for (let i = 0; i < items.length; i++) {
    if (i % MSET_KEYS === 0) {
      out[o++] = 42; // *
      o = digits(out, o, 1 + 2 * Math.min(MSET_KEYS, items.length - i));
      out[o++] = 13;
      out[o++] = 10;
      o += name.copy(out, o);
    }
    const it = items[i] as MsetItem;
    o = bulkHeader(out, o, it.key.length);
    o += it.key.copy(out, o);
    out[o++] = 13;
    out[o++] = 10;
    if (it.set) {
      o = bulkHeader(out, o, it.set.length);
      o += it.set.copy(out, o);
    } else {
      // decompressed straight into the command: no buffer a key
      const z = it.lzf as LzfValue;
      o = bulkHeader(out, o, z.len);
      if (!lzfDecompressInto(it.value, z.at, z.at + z.clen, out, o, z.len))
        throw new FerryError(
          'RDB_CORRUPT',
          `the LZF-compressed value of ${JSON.stringify(it.key.toString('latin1'))} does not decompress to its ${z.len} bytes`,
        );
      o += z.len;
    }
    out[o++] = 13;
    out[o++] = 10;
  }
  return { wire: out, commands };
}
