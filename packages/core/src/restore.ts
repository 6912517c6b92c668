import { Crc64 } from '@ferry/rdb';

const RESTORE = Buffer.from('$7\r\nRESTORE\r\n', 'latin1');
const REPLACE = Buffer.from('$7\r\nREPLACE\r\n', 'latin1');
const ABSTTL = Buffer.from('$6\r\nABSTTL\r\n', 'latin1');

/** Writes a non-negative integer's decimal digits at `o`; returns the new offset. */
function digits(out: Buffer, o: number, n: number): number {
  if (n < 10) {
    out[o] = 48 + n;
    return o + 1;
  }
  const s = String(n);
  for (let i = 0; i < s.length; i++) out[o + i] = s.charCodeAt(i);
  return o + s.length;
}

function digitCount(n: number): number {
  let d = 1;
  for (let x = n; x >= 10; x = Math.floor(x / 10)) d++;
  return d;
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
}

/** The RESP size of a RESTORE of `it`. */
export function restoreSize(it: RestoreItem): number {
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
  const { key, ttl, value } = it;
  const ttlDigits = digitCount(ttl);
  const payload = 1 + value.length + 10;
  out[o++] = 42; // *
  out[o++] = 48 + 4 + (it.replace ? 1 : 0) + (it.absttl ? 1 : 0);
  out[o++] = 13;
  out[o++] = 10;
  o += RESTORE.copy(out, o);
  const bulk = (len: number): void => {
    out[o++] = 36; // $
    o = digits(out, o, len);
    out[o++] = 13;
    out[o++] = 10;
  };
  bulk(key.length);
  o += key.copy(out, o);
  out[o++] = 13;
  out[o++] = 10;
  bulk(ttlDigits);
  o = digits(out, o, ttl);
  out[o++] = 13;
  out[o++] = 10;
  bulk(payload);
  const start = o;
  out[o++] = it.rdbType;
  o += value.copy(out, o);
  out[o++] = rdbVersion & 0xff;
  out[o++] = rdbVersion >>> 8;
  const crc = new Crc64().update(out, start, o);
  out.writeUInt32LE(crc.lo >>> 0, o);
  out.writeUInt32LE(crc.hi >>> 0, o + 4);
  o += 8;
  out[o++] = 13;
  out[o++] = 10;
  if (it.replace) o += REPLACE.copy(out, o);
  if (it.absttl) o += ABSTTL.copy(out, o);
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
