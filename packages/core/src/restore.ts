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
  return n < 10 ? 1 : String(n).length;
}

/**
 * `RESTORE key ttl payload [REPLACE] [ABSTTL]` encoded as RESP in one allocation, the DUMP payload
 * (type byte, value, RDB version, CRC64) built in place: the snapshot's hot path, where building the
 * payload and then the command would copy every value twice more.
 */
export function encodeRestore(
  key: Buffer,
  ttl: number,
  rdbType: number,
  value: Buffer,
  rdbVersion: number,
  replace: boolean,
  absttl: boolean,
): Buffer {
  const ttlDigits = digitCount(ttl);
  const payload = 1 + value.length + 10;
  const argc = 4 + (replace ? 1 : 0) + (absttl ? 1 : 0);
  const size =
    4 + // *N\r\n (N < 10)
    RESTORE.length +
    (3 + digitCount(key.length) + key.length + 2) +
    (3 + digitCount(ttlDigits) + ttlDigits + 2) +
    (3 + digitCount(payload) + payload + 2) +
    (replace ? REPLACE.length : 0) +
    (absttl ? ABSTTL.length : 0);
  const out = Buffer.allocUnsafe(size);
  out[0] = 42; // *
  out[1] = 48 + argc;
  out[2] = 13;
  out[3] = 10;
  let o = 4 + RESTORE.copy(out, 4);
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
  out[o++] = rdbType;
  o += value.copy(out, o);
  out[o++] = rdbVersion & 0xff;
  out[o++] = rdbVersion >>> 8;
  const crc = new Crc64().update(out, start, o);
  out.writeUInt32LE(crc.lo >>> 0, o);
  out.writeUInt32LE(crc.hi >>> 0, o + 4);
  o += 8;
  out[o++] = 13;
  out[o++] = 10;
  if (replace) o += REPLACE.copy(out, o);
  if (absttl) o += ABSTTL.copy(out, o);
  return out;
}
