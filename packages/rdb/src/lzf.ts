import { lengthAt, lengthBytes } from './lengths.js';

/**
 * LZF decompression (liblzf's lzf_d.c format). Returns undefined when the input is malformed or
 * does not produce exactly `outLength` bytes; never reads or writes out of bounds.
 */
export function lzfDecompress(input: Buffer, outLength: number): Buffer | undefined {
  const out = Buffer.allocUnsafe(outLength);
  return lzfDecompressInto(input, 0, input.length, out, 0, outLength) ? out : undefined;
}

/**
 * Decompresses `input[inStart, inEnd)` into `out` at `outStart` (`outLength` bytes, as the RDB
 * announces): no buffer of its own, for a value written straight into a command. False when the
 * input is malformed or does not fill exactly `outLength` bytes.
 */
export function lzfDecompressInto(
  input: Buffer,
  inStart: number,
  inEnd: number,
  out: Buffer,
  outStart: number,
  outLength: number,
): boolean {
  let ip = inStart;
  let op = outStart;
  const inLen = inEnd;
  const outEnd = outStart + outLength;
  while (ip < inLen) {
    let ctrl = input[ip++] as number;
    if (ctrl < 32) {
      // literal run of ctrl + 1 bytes
      ctrl++;
      if (op + ctrl > outEnd || ip + ctrl > inLen) return false;
      // at most 32 bytes: a loop beats Buffer#copy's call overhead
      for (const end = ip + ctrl; ip < end; ) out[op++] = input[ip++] as number;
    } else {
      // back reference
      let len = ctrl >> 5;
      let ref = op - ((ctrl & 0x1f) << 8) - 1;
      if (len === 7) {
        if (ip >= inLen) return false;
        len += input[ip++] as number;
      }
      if (ip >= inLen) return false;
      ref -= input[ip++] as number;
      len += 2;
      if (op + len > outEnd || ref < outStart) return false;
      if (len > 16) {
        // long references in one call: a copy when source and destination do not overlap, a fill
        // for a run of one byte (padding, spaces: what LZF compresses best)
        const distance = op - ref;
        if (distance >= len) {
          out.copyWithin(op, ref, ref + len);
          op += len;
          continue;
        }
        if (distance === 1) {
          out.fill(out[ref] as number, op, op + len);
          op += len;
          continue;
        }
      }
      // byte by byte: the reference may overlap the output being written
      for (let i = 0; i < len; i++) out[op++] = out[ref++] as number;
    }
  }
  return op === outEnd;
}

/**
 * Where an LZF-compressed string value (as an RDB holds it: 0xC3, compressed length, length, data)
 * keeps its data, and its two lengths; undefined for any other string encoding.
 */
export function lzfStringParts(raw: Buffer): { at: number; clen: number; len: number } | undefined {
  if (raw[0] !== 0xc3) return undefined;
  const clen = lengthAt(raw, 1);
  if (clen < 0) return undefined;
  const lenAt = 1 + lengthBytes(raw[1] as number);
  const len = lengthAt(raw, lenAt);
  if (len < 0) return undefined;
  const at = lenAt + lengthBytes(raw[lenAt] as number);
  return at + clen === raw.length ? { at, clen, len } : undefined;
}
