import { FerryError } from '@ferry/errors';
import { replyError } from './errors.js';
import { RespMap, RespPush, RespSet, type RespValue, RespVerbatim } from './types.js';

const CR = 13;
const LF = 10;
const CRLF = Buffer.from('\r\n');
const EMPTY = Buffer.alloc(0);

/** Aggregate types, by their type byte: `*` array, `%` map, `~` set, `>` push, `|` attribute. */
const ARRAY = 0x2a;
const MAP = 0x25;
const SET = 0x7e;
const PUSH = 0x3e;
const ATTRIBUTE = 0x7c;

interface Frame {
  type: number;
  remaining: number;
  items: RespValue[];
}

/** A bulk payload that did not arrive in one chunk: filled in place, each byte copied once. */
interface PendingBulk {
  type: number;
  data: Buffer;
  filled: number;
  /** CRLF bytes after the payload seen so far (0–2). */
  tail: number;
}

export interface DecoderLimits {
  /** Longest bulk string accepted (Redis's proto-max-bulk-len default is 512 MB). */
  maxBulkLength?: number;
  /** Most elements in one aggregate. */
  maxElements?: number;
  /** Longest header line (type byte to CRLF) before the input is called garbage. */
  maxLineLength?: number;
}

/** Called for each complete top-level value, with the stream offset just past its last byte. */
export type ValueSink = (value: RespValue, endOffset: number) => void;

/**
 * A streaming RESP2 + RESP3 decoder. Feed it chunks cut anywhere; it emits each complete top-level
 * value. Bulk strings that arrive within one chunk are views of it (no copy); longer ones are
 * assembled once into a buffer of their exact size. Malformed input fails with PROTOCOL_ERROR naming
 * the byte offset, and nothing is allocated from a length before that length is checked.
 */
export class RespDecoder {
  private buf: Buffer = EMPTY;
  private pos = 0;
  /** Stream offset of buf[0]. */
  private base = 0;
  private readonly stack: Frame[] = [];
  private bulk: PendingBulk | undefined;
  private readonly maxBulk: number;
  private readonly maxElements: number;
  private readonly maxLine: number;

  constructor(limits: DecoderLimits = {}) {
    this.maxBulk = limits.maxBulkLength ?? 512 * 1024 * 1024;
    this.maxElements = limits.maxElements ?? 1 << 30;
    this.maxLine = limits.maxLineLength ?? 64 * 1024;
  }

  /** Bytes fed so far and fully consumed by emitted or in-progress values. */
  get offset(): number {
    return this.base + this.pos;
  }

  /** True when no value is half-decoded (the stream is at a value boundary). */
  get idle(): boolean {
    return this.stack.length === 0 && this.bulk === undefined && this.pos === this.buf.length;
  }

  /** Bytes received but not yet part of a value; only meaningful when `idle` is false because of them. */
  takeRemainder(): Buffer {
    if (this.stack.length > 0 || this.bulk) {
      throw new FerryError('PROTOCOL_ERROR', 'cannot hand over a stream in the middle of a value');
    }
    const rest = this.buf.subarray(this.pos);
    this.base += this.buf.length;
    this.buf = EMPTY;
    this.pos = 0;
    return rest;
  }

  /** Decodes as much of `chunk` (plus what was left over) as possible, calling `sink` per value. */
  feed(chunk: Buffer, sink: ValueSink): void {
    let input = chunk;
    if (this.bulk) {
      input = this.fillBulk(input, sink);
      if (this.bulk) return;
    }
    if (this.pos < this.buf.length) {
      // a partial header line: short by construction (bounded by maxLineLength)
      this.base += this.pos;
      this.buf = Buffer.concat([this.buf.subarray(this.pos), input]);
    } else {
      this.base += this.buf.length;
      this.buf = input;
    }
    this.pos = 0;
    this.run(sink);
  }

  private fail(message: string, at = this.offset): never {
    throw new FerryError('PROTOCOL_ERROR', `RESP protocol error at byte ${at}: ${message}`, {
      details: { offset: at },
    });
  }

  private fillBulk(input: Buffer, sink: ValueSink): Buffer {
    const bulk = this.bulk;
    if (!bulk) return input;
    let i = 0;
    const need = bulk.data.length - bulk.filled;
    if (need > 0) {
      const n = Math.min(need, input.length);
      input.copy(bulk.data, bulk.filled, 0, n);
      bulk.filled += n;
      i = n;
    }
    while (bulk.filled === bulk.data.length && bulk.tail < 2 && i < input.length) {
      const expected = bulk.tail === 0 ? CR : LF;
      if (input[i] !== expected)
        this.fail('bulk string not followed by CRLF', this.base + this.buf.length + i);
      bulk.tail++;
      i++;
    }
    // the consumed part of `input` counts toward the stream offset
    this.base += this.buf.length;
    this.buf = input.subarray(0, i);
    this.pos = i;
    if (bulk.filled === bulk.data.length && bulk.tail === 2) {
      this.bulk = undefined;
      this.emit(this.bulkValue(bulk.type, bulk.data), sink);
    }
    return input.subarray(i);
  }

  private bulkValue(type: number, data: Buffer): RespValue {
    if (type === 0x21) return replyError(data.toString('utf8')); // '!' blob error
    if (type === 0x3d) {
      // '=' verbatim: "txt:" + text
      if (data.length < 4 || data[3] !== 0x3a) this.fail('verbatim string without a format prefix');
      return new RespVerbatim(data.toString('latin1', 0, 3), data.subarray(4));
    }
    return data;
  }

  /** Parses an integer between `start` and `end` strictly (optional sign, digits only). */
  private integer(start: number, end: number): number | bigint {
    const buf = this.buf;
    let i = start;
    let negative = false;
    if (buf[i] === 0x2d || buf[i] === 0x2b) {
      negative = buf[i] === 0x2d;
      i++;
    }
    if (i >= end) this.fail('empty number', this.base + start);
    let value = 0;
    for (let j = i; j < end; j++) {
      const d = (buf[j] ?? 0) - 0x30;
      if (d < 0 || d > 9)
        this.fail(`invalid digit in number "${buf.toString('latin1', start, end)}"`, this.base + j);
      value = value * 10 + d;
    }
    if (value > Number.MAX_SAFE_INTEGER) {
      const big = BigInt(buf.toString('latin1', i, end));
      return negative ? -big : big;
    }
    return negative ? -value : value;
  }

  private length(start: number, end: number, what: string, max: number): number {
    const n = this.integer(start, end);
    if (typeof n === 'bigint' || n < -1 || n > max) {
      this.fail(`${what} length ${String(n)} is out of range (limit ${max})`, this.base + start);
    }
    return n;
  }

  private run(sink: ValueSink): void {
    const buf = this.buf;
    while (this.pos < buf.length) {
      const start = this.pos;
      if (
        buf[start] === 0x2b &&
        buf[start + 1] === 0x4f &&
        buf[start + 2] === 0x4b &&
        buf[start + 3] === CR &&
        buf[start + 4] === LF
      ) {
        // "+OK": the reply to nearly every write, a million times a snapshot: no CRLF search
        this.pos = start + 5;
        this.emit('OK', sink);
        continue;
      }
      const eol = buf.indexOf(CRLF, start + 1);
      if (eol < 0) {
        if (buf.length - start > this.maxLine)
          this.fail(`no CRLF within ${this.maxLine} bytes`, this.base + start);
        return;
      }
      const type = buf[start];
      const body = start + 1;
      this.pos = eol + 2;
      switch (type) {
        case 0x2b: // '+' simple string; "OK" (most replies to writes) without decoding
          this.emit(
            eol - body === 2 && buf[body] === 0x4f && buf[body + 1] === 0x4b
              ? 'OK'
              : buf.toString('utf8', body, eol),
            sink,
          );
          break;
        case 0x2d: // '-' error
          this.emit(replyError(buf.toString('utf8', body, eol)), sink);
          break;
        case 0x3a: // ':' integer
          this.emit(this.integer(body, eol), sink);
          break;
        case 0x24: // '$' bulk string
        case 0x21: // '!' blob error
        case 0x3d: {
          // '=' verbatim string
          const n = this.length(body, eol, 'bulk', this.maxBulk);
          if (n === -1) {
            this.emit(null, sink);
            break;
          }
          if (buf.length - this.pos >= n + 2) {
            const data = buf.subarray(this.pos, this.pos + n);
            if (buf[this.pos + n] !== CR || buf[this.pos + n + 1] !== LF) {
              this.fail('bulk string not followed by CRLF', this.base + this.pos + n);
            }
            this.pos += n + 2;
            this.emit(this.bulkValue(type, data), sink);
            break;
          }
          // the payload continues in later chunks
          const data = Buffer.allocUnsafe(n);
          const have = Math.min(n, buf.length - this.pos);
          buf.copy(data, 0, this.pos, this.pos + have);
          let tail = 0;
          for (let j = this.pos + have; j < buf.length && tail < 2; j++, tail++) {
            if (buf[j] !== (tail === 0 ? CR : LF))
              this.fail('bulk string not followed by CRLF', this.base + j);
          }
          this.bulk = { type, data, filled: have, tail };
          this.pos = buf.length;
          return;
        }
        case ARRAY:
        case MAP:
        case SET:
        case PUSH:
        case ATTRIBUTE: {
          const n = this.length(body, eol, 'aggregate', this.maxElements);
          if (n === -1) this.emit(null, sink);
          else if (n === 0) this.emit(this.finish({ type, remaining: 0, items: [] }), sink);
          else
            this.stack.push({ type, remaining: type === MAP || type === ATTRIBUTE ? 2 * n : n, items: [] });
          break;
        }
        case 0x5f: // '_' null
          if (eol !== body) this.fail('null with a payload', this.base + body);
          this.emit(null, sink);
          break;
        case 0x23: {
          // '#' boolean
          const c = buf[body];
          if (eol !== body + 1 || (c !== 0x74 && c !== 0x66))
            this.fail('boolean is not t or f', this.base + body);
          this.emit(c === 0x74, sink);
          break;
        }
        case 0x2c: {
          // ',' double
          const text = buf.toString('latin1', body, eol).toLowerCase();
          const value =
            text === 'inf'
              ? Infinity
              : text === '-inf'
                ? -Infinity
                : text === 'nan'
                  ? Number.NaN
                  : Number(text);
          if (Number.isNaN(value) && text !== 'nan') this.fail(`invalid double "${text}"`, this.base + body);
          this.emit(value, sink);
          break;
        }
        case 0x28: {
          // '(' big number
          const text = buf.toString('latin1', body, eol);
          if (!/^[-+]?\d+$/.test(text)) this.fail(`invalid big number "${text}"`, this.base + body);
          this.emit(BigInt(text), sink);
          break;
        }
        default:
          this.fail(`unknown type byte 0x${(type ?? 0).toString(16).padStart(2, '0')}`, this.base + start);
      }
    }
  }

  private finish(frame: Frame): RespValue {
    switch (frame.type) {
      case MAP: {
        const entries: Array<[RespValue, RespValue]> = [];
        for (let i = 0; i < frame.items.length; i += 2)
          entries.push([frame.items[i] ?? null, frame.items[i + 1] ?? null]);
        return new RespMap(entries);
      }
      case SET:
        return new RespSet(frame.items);
      case PUSH:
        return new RespPush(frame.items);
      default:
        return frame.items;
    }
  }

  private emit(value: RespValue, sink: ValueSink): void {
    let v = value;
    for (;;) {
      const top = this.stack[this.stack.length - 1];
      if (!top) {
        sink(v, this.offset);
        return;
      }
      top.items.push(v);
      if (--top.remaining > 0) return;
      this.stack.pop();
      // An attribute describes the value after it: Ferry has no use for it, so it is dropped.
      if (top.type === ATTRIBUTE) return;
      v = this.finish(top);
    }
  }
}

/** Decodes a complete buffer into its values (throws if it ends mid-value). */
export function decodeAll(input: Buffer, limits?: DecoderLimits): RespValue[] {
  const out: RespValue[] = [];
  const decoder = new RespDecoder(limits);
  decoder.feed(input, (v) => out.push(v));
  if (!decoder.idle)
    throw new FerryError(
      'PROTOCOL_ERROR',
      `RESP input ends in the middle of a value at byte ${input.length}`,
    );
  return out;
}
