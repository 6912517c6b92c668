/**
 * LZF decompression (liblzf's lzf_d.c format). Returns undefined when the input is malformed or
 * does not produce exactly `outLength` bytes; never reads or writes out of bounds.
 */
export function lzfDecompress(input: Buffer, outLength: number): Buffer | undefined {
  const out = Buffer.allocUnsafe(outLength);
  let ip = 0;
  let op = 0;
  const inLen = input.length;
  while (ip < inLen) {
    let ctrl = input[ip++] as number;
    if (ctrl < 32) {
      // literal run of ctrl + 1 bytes
      ctrl++;
      if (op + ctrl > outLength || ip + ctrl > inLen) return undefined;
      // at most 32 bytes: a loop beats Buffer#copy's call overhead
      for (const end = ip + ctrl; ip < end; ) out[op++] = input[ip++] as number;
    } else {
      // back reference
      let len = ctrl >> 5;
      let ref = op - ((ctrl & 0x1f) << 8) - 1;
      if (len === 7) {
        if (ip >= inLen) return undefined;
        len += input[ip++] as number;
      }
      if (ip >= inLen) return undefined;
      ref -= input[ip++] as number;
      len += 2;
      if (op + len > outLength || ref < 0) return undefined;
      // byte by byte: the reference may overlap the output being written
      for (let i = 0; i < len; i++) out[op++] = out[ref++] as number;
    }
  }
  return op === outLength ? out : undefined;
}
