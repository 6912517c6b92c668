import { describe, expect, it } from 'vitest';
import { lzfDecompress, lzfStringParts } from './lzf.js';

/** liblzf's back reference: length 3–264 at a distance of 1–8192 bytes. */
function backref(len: number, distance: number): number[] {
  const off = distance - 1;
  const l = len - 2;
  return l < 7 ? [(l << 5) | (off >> 8), off & 0xff] : [(7 << 5) | (off >> 8), l - 7, off & 0xff];
}
const literal = (s: string): number[] => [s.length - 1, ...Buffer.from(s, 'latin1')];

/** lzf_d.c's loop, byte by byte: what the fast paths must agree with. */
function reference(input: Buffer): Buffer {
  const out: number[] = [];
  let ip = 0;
  while (ip < input.length) {
    const ctrl = input[ip++] as number;
    if (ctrl < 32) for (let i = 0; i <= ctrl; i++) out.push(input[ip++] as number);
    else {
      let len = ctrl >> 5;
      if (len === 7) len += input[ip++] as number;
      const ref = out.length - ((ctrl & 0x1f) << 8) - 1 - (input[ip++] as number);
      for (let i = 0; i < len + 2; i++) out.push(out[ref + i] as number);
    }
  }
  return Buffer.from(out);
}

describe('LZF decompression', () => {
  it('agrees with the byte-by-byte loop on copies, one-byte runs and overlapping references', () => {
    const input = Buffer.from([
      ...literal('value:123'),
      ...backref(3, 1), // short run
      ...literal('\0'),
      ...backref(90, 1), // a long run of one byte: filled
      ...literal('abcdefghijklmnopqrstuvwxyz'),
      ...backref(26, 26), // a long reference that does not overlap: copied
      ...backref(40, 3), // a long reference that overlaps (period 3): byte by byte
      ...backref(264, 150), // the longest reference, overlapping
      ...literal('!'),
    ]);
    const want = reference(input);
    expect(lzfDecompress(input, want.length)).toEqual(want);
    expect(lzfDecompress(input, want.length + 1)).toBeUndefined(); // not the announced length
    expect(lzfDecompress(Buffer.from(backref(20, 5)), 20)).toBeUndefined(); // refers before the start
  });

  it("finds an RDB LZF string's data and lengths", () => {
    // 0xC3, compressed length 14 (6-bit), length 300 (14-bit: 0x41 0x2C), then the data
    const data = Buffer.alloc(14, 1);
    const raw = Buffer.concat([Buffer.from([0xc3, 14, 0x41, 0x2c]), data]);
    expect(lzfStringParts(raw)).toEqual({ at: 4, clen: 14, len: 300 });
    expect(lzfStringParts(raw.subarray(0, 10))).toBeUndefined(); // lengths that do not fit the value
    expect(lzfStringParts(Buffer.from([0x05, 1, 2, 3, 4, 5]))).toBeUndefined(); // a plain string
  });
});
