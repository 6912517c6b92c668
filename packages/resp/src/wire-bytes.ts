import type { Arg } from './types.js';

/** A command's size on the wire, about: its arguments' bytes and a few of framing each. */
export function wireBytes(c: readonly Arg[] | Buffer): number {
  if (Buffer.isBuffer(c)) return c.length;
  let n = 16;
  for (const a of c) n += (Buffer.isBuffer(a) ? a.length : typeof a === 'string' ? a.length : 20) + 16;
  return n;
}
