/* RDB lengths read from a value held in a Buffer (the stream's own reader is ByteSource's). */

/**
 * Bytes a plain RDB length takes, from its first byte: 1 (6 bits), 2 (14 bits), 5 (32 bits) or
 * 9 (64 bits); 0 for an encoded value (int, LZF) or an unknown form.
 */
export function lengthBytes(first: number): number {
  switch (first >> 6) {
    case 0:
      return 1;
    case 1:
      return 2;
    case 2:
      return first === 0x80 ? 5 : first === 0x81 ? 9 : 0;
    default:
      return 0;
  }
}

/** The plain RDB length at `p` in `b`, or -1 when there is none there (encoded, or past the end). */
export function lengthAt(b: Buffer, p: number): number {
  const first = b[p];
  if (first === undefined) return -1;
  const n = lengthBytes(first);
  if (n === 0 || p + n > b.length) return -1;
  if (n === 1) return first & 0x3f;
  if (n === 2) return ((first & 0x3f) << 8) | (b[p + 1] as number);
  return n === 5 ? b.readUInt32BE(p + 1) : Number(b.readBigUInt64BE(p + 1));
}
