import type { Arg } from './types.js';

/** Decimal digits of a non-negative integer. */
function digits(n: number): number {
  let d = 1;
  while (n >= 10) {
    n = Math.floor(n / 10);
    d++;
  }
  return d;
}

/** Writes `n` in decimal at `o`; returns the offset after it. */
function writeInt(out: Buffer, o: number, n: number): number {
  const end = o + digits(n);
  let at = end;
  do {
    const q = Math.floor(n / 10);
    out[--at] = 48 + n - q * 10;
    n = q;
  } while (n > 0);
  return end;
}

/** A string argument's bytes on the wire (UTF-8); an ASCII string's are its length. */
function textBytes(s: string): number {
  // a short string is checked char by char: cheaper than asking the encoder
  if (s.length <= 64) {
    for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return Buffer.byteLength(s, 'utf8');
    return s.length;
  }
  return Buffer.byteLength(s, 'utf8');
}

/**
 * Encodes one command as a RESP array of bulk strings, in a single allocation: sizes first, then
 * each argument written in place (no Buffer per string argument nor a string per header — the
 * check before "done" encodes some 8 000 commands, a stream replay one per source command).
 */
export function encodeCommand(argv: readonly Arg[]): Buffer {
  const n = argv.length;
  let size = 3 + digits(n);
  for (let i = 0; i < n; i++) {
    const a = argv[i] as Arg;
    const len = Buffer.isBuffer(a) ? a.length : textBytes(typeof a === 'string' ? a : String(a));
    size += 5 + digits(len) + len;
  }
  const out = Buffer.allocUnsafe(size);
  out[0] = 42; // *
  let o = writeInt(out, 1, n);
  out[o++] = 13;
  out[o++] = 10;
  for (let i = 0; i < n; i++) {
    const a = argv[i] as Arg;
    out[o++] = 36; // $
    if (Buffer.isBuffer(a)) {
      o = writeInt(out, o, a.length);
      out[o++] = 13;
      out[o++] = 10;
      o += a.copy(out, o);
    } else {
      const s = typeof a === 'string' ? a : String(a);
      const len = textBytes(s);
      o = writeInt(out, o, len);
      out[o++] = 13;
      out[o++] = 10;
      if (len === s.length && len <= 64) for (let j = 0; j < len; j++) out[o++] = s.charCodeAt(j);
      else o += out.write(s, o, 'utf8');
    }
    out[o++] = 13;
    out[o++] = 10;
  }
  return out;
}

/** Encodes many commands back to back (one write for a pipeline). */
export function encodeCommands(commands: ReadonlyArray<readonly Arg[]>): Buffer {
  return Buffer.concat(commands.map(encodeCommand));
}
