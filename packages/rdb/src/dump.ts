import { FerryError } from '@ferry/errors';
import { Crc64 } from './crc64.js';

/**
 * Builds the payload `RESTORE` takes (and `DUMP` returns) from a value as it sits in an RDB:
 * type byte, serialized value, the 2-byte RDB version (little-endian), then the CRC64 of all that.
 * A target refuses versions newer than its own; pass the version the value was written with.
 */
export function dumpPayload(rdbType: number, value: Buffer, rdbVersion: number): Buffer {
  const byte = rdbType & 0xff; // a Valkey-only type's parser code carries its byte in the low 8 bits
  const out = Buffer.allocUnsafe(1 + value.length + 10);
  out[0] = byte;
  value.copy(out, 1);
  out.writeUInt16LE(rdbVersion, 1 + value.length);
  const crc = new Crc64().dumpBody(byte, value, rdbVersion);
  out.writeUInt32LE(crc.lo, out.length - 8);
  out.writeUInt32LE(crc.hi, out.length - 4);
  return out;
}

/** Splits a DUMP payload into its parts, checking the footer and CRC64. */
export function parseDumpPayload(payload: Buffer): { rdbType: number; value: Buffer; rdbVersion: number } {
  if (payload.length < 11) {
    throw new FerryError(
      'RDB_CORRUPT',
      `DUMP payload of ${payload.length} bytes is shorter than its 11-byte minimum`,
    );
  }
  const body = payload.length - 8;
  const expected = new Crc64().update(payload, 0, body).digest();
  const stored = payload.subarray(body);
  if (!stored.every((b) => b === 0) && !stored.equals(expected)) {
    throw new FerryError(
      'RDB_CORRUPT',
      `DUMP payload checksum mismatch: ${stored.toString('hex')} ≠ ${expected.toString('hex')}`,
    );
  }
  return {
    rdbType: payload[0] as number,
    value: payload.subarray(1, body - 2),
    rdbVersion: payload.readUInt16LE(body - 2),
  };
}
