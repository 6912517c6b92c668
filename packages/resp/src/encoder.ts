import type { Arg } from './types.js';

function toBuffer(arg: Arg): Buffer {
  if (Buffer.isBuffer(arg)) return arg;
  return Buffer.from(typeof arg === 'string' ? arg : String(arg), 'utf8');
}

/** Encodes one command as a RESP array of bulk strings, in a single allocation. */
export function encodeCommand(argv: readonly Arg[]): Buffer {
  const parts = argv.map(toBuffer);
  let size = 3 + String(parts.length).length;
  for (const p of parts) size += 5 + String(p.length).length + p.length;
  const out = Buffer.allocUnsafe(size);
  let o = out.write(`*${parts.length}\r\n`, 0, 'latin1');
  for (const p of parts) {
    o += out.write(`$${p.length}\r\n`, o, 'latin1');
    o += p.copy(out, o);
    out[o++] = 13;
    out[o++] = 10;
  }
  return out;
}

/** Encodes many commands back to back (one write for a pipeline). */
export function encodeCommands(commands: ReadonlyArray<readonly Arg[]>): Buffer {
  return Buffer.concat(commands.map(encodeCommand));
}
