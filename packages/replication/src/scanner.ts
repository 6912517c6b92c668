import { FerryError } from '@ferry/errors';

const CR = 13;
const LF = 10;
const STAR = 42;
const DOLLAR = 36;
const HASH = 35;

export interface ScannerOptions {
  /** Skip `#…` annotation lines between commands (an AOF's `#TS:` timestamps). */
  annotations?: boolean;
  /** What the bytes are, for errors ("replication stream", "AOF file.aof"). */
  what?: string;
  /** The offset of the first byte fed (a read resumed inside the stream). */
  offset?: number;
}

/**
 * Called per command: its arguments and its bytes (views of the input, when asked for), its stream
 * offsets, and whether it is `REPLCONF GETACK` (which a replica must answer).
 */
export type CommandSink = (
  argv: Buffer[] | undefined,
  raw: Buffer | undefined,
  start: number,
  end: number,
  getAck: boolean,
) => void;

/**
 * The replication stream's own reader: after the snapshot a source sends nothing but commands as
 * arrays of bulk strings, so a scanner that knows only that shape reads it without searching for
 * line ends or allocating per reply the way a general RESP decoder must. Arguments are views of the
 * input (no copy); a command cut by a chunk boundary is carried over (bounded by that command).
 */
export class CommandScanner {
  /** Bytes of an incomplete command, kept as parts until at least `need` bytes are there. */
  private carry: Buffer[] = [];
  private carryBytes = 0;
  private need = 0;
  /** Stream offset of the first byte not yet part of a complete command. */
  private offset: number;

  constructor(
    private readonly wantArgs: boolean,
    private readonly o: ScannerOptions = {},
  ) {
    this.offset = o.offset ?? 0;
  }

  /** Bytes held back: the start of a command whose end has not arrived. */
  get pending(): number {
    return this.carryBytes;
  }

  feed(chunk: Buffer, sink: CommandSink): void {
    if (this.carryBytes > 0) {
      this.carry.push(chunk);
      this.carryBytes += chunk.length;
      // a big value arriving in many chunks is joined once, when it is all there
      if (this.carryBytes < this.need) return;
    }
    const buf = this.carryBytes > 0 ? Buffer.concat(this.carry, this.carryBytes) : chunk;
    this.carry = [];
    this.carryBytes = 0;
    this.need = 0;
    const len = buf.length;
    let p = 0;
    const want = this.wantArgs;
    while (p < len) {
      const start = p;
      if (buf[p] !== STAR) {
        // a bare newline (a keep-alive) is allowed between commands
        if (buf[p] === LF) {
          p++;
          this.offset++;
          continue;
        }
        if (buf[p] === HASH && this.o.annotations) {
          const nl = buf.indexOf(LF, p);
          if (nl < 0) break; // the line's end has not arrived
          this.offset += nl + 1 - p;
          p = nl + 1;
          continue;
        }
        this.fail(`expected a command ("*"), found byte ${buf[p]}`, this.offset);
      }
      p++;
      let n = 0;
      let c = 0;
      for (; p < len; p++) {
        c = buf[p] as number;
        if (c === CR) break;
        if (c < 48 || c > 57) this.fail(`bad array length byte ${c}`, this.offset + (p - start));
        n = n * 10 + (c - 48);
      }
      if (p + 1 >= len) {
        p = start; // incomplete header
        break;
      }
      p += 2; // \r\n
      const argv: Buffer[] | undefined = want ? new Array<Buffer>(n) : undefined;
      let complete = true;
      for (let i = 0; i < n; i++) {
        if (p >= len) {
          complete = false;
          break;
        }
        if (buf[p] !== DOLLAR)
          this.fail(`expected a bulk string ("$"), found byte ${buf[p]}`, this.offset + (p - start));
        p++;
        let l = 0;
        for (; p < len; p++) {
          c = buf[p] as number;
          if (c === CR) break;
          if (c < 48 || c > 57) this.fail(`bad bulk length byte ${c}`, this.offset + (p - start));
          l = l * 10 + (c - 48);
        }
        if (p + 1 >= len || p + 2 + l + 2 > len) {
          if (p + 1 < len) this.need = p + 2 + l + 2 - start;
          complete = false;
          break;
        }
        p += 2;
        if (argv) argv[i] = buf.subarray(p, p + l);
        p += l;
        if (buf[p] !== CR || buf[p + 1] !== LF)
          this.fail('bulk string not followed by CRLF', this.offset + (p - start));
        p += 2;
      }
      if (!complete) {
        p = start;
        break;
      }
      const getAck =
        n === 3 && p - start > 26 && buf[start + 5] === 56 && buf[start + 6] === CR && isGetAck(buf, start);
      sink(argv, want ? buf.subarray(start, p) : undefined, this.offset, this.offset + (p - start), getAck);
      this.offset += p - start;
    }
    if (p < len) {
      this.carry = [p === 0 ? buf : buf.subarray(p)];
      this.carryBytes = len - p;
    }
  }

  private fail(message: string, at: number): never {
    throw new FerryError('PROTOCOL_ERROR', `${this.o.what ?? 'replication stream'} byte ${at}: ${message}`, {
      details: { offset: at },
    });
  }
}

/** `*3\r\n$8\r\nREPLCONF\r\n$6\r\nGETACK\r\n…` at `start`, any case. */
function isGetAck(buf: Buffer, start: number): boolean {
  return (
    buf.toString('latin1', start + 8, start + 16).toUpperCase() === 'REPLCONF' &&
    buf.toString('latin1', start + 22, start + 28).toUpperCase() === 'GETACK'
  );
}
