import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc64 } from '@ferry/rdb';

/* The bytes of an RDB file, for the tests that build the formats no server here writes. */

/** An RDB length: 6 bits, 14 bits, or 0x81 and 8 bytes big-endian. */
export function len(n: number | bigint): Buffer {
  const v = BigInt(n);
  if (v < 64n) return Buffer.from([Number(v)]);
  if (v < 16384n) return Buffer.from([0x40 | Number(v >> 8n), Number(v & 0xffn)]);
  const b = Buffer.alloc(9);
  b[0] = 0x81;
  b.writeBigUInt64BE(v, 1);
  return b;
}

/** An RDB string: its length, then its bytes. */
export const str = (s: string): Buffer => Buffer.concat([len(Buffer.byteLength(s)), Buffer.from(s)]);

/**
 * Writes `REDIS<version>` with a redis-ver AUX field, db 0 selected, `parts` (opcodes and keys as
 * their bytes), EOF and the CRC64 of it all; returns the file's path.
 */
export function rdbFile(
  dir: string,
  name: string,
  version: number,
  redisVer: string,
  parts: Buffer[],
): string {
  const body = Buffer.concat([
    Buffer.from(`REDIS${String(version).padStart(4, '0')}`),
    Buffer.from([250]),
    str('redis-ver'),
    str(redisVer),
    Buffer.from([254]),
    len(0),
    ...parts,
    Buffer.from([255]),
  ]);
  const crc = Buffer.alloc(8);
  crc.writeBigUInt64LE(crc64(body));
  const file = join(dir, name);
  writeFileSync(file, Buffer.concat([body, crc]));
  return file;
}
