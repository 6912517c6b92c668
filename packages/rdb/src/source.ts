import { closeSync, openSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { Crc64 } from './crc64.js';
import { corrupt } from './errors.js';
import { lzfDecompress } from './lzf.js';
import { view } from './view.js';

const EMPTY = Buffer.alloc(0);
/** The checksum thread is told to fold at most every this many bytes. */
const CRC_POST_BYTES = 8 << 20;

/** Largest string Redis accepts (proto-max-bulk-len's ceiling): longer lengths are corruption. */
export const MAX_STRING = 512 * 1024 * 1024;

/**
 * A window over a stream of chunks. Reads are synchronous `try*` calls that either succeed or
 * return undefined / -1 and set `short` to the bytes they need, without consuming anything; the
 * caller awaits `fill(short)` and tries again. Bytes before `pos` are dropped on the next fill
 * unless a mark keeps them (raw value capture). Buffers handed out are never written again, so
 * views stay valid. The CRC64 of everything consumed is kept as bytes are dropped.
 */
export class ByteSource {
  buf: Buffer = EMPTY;
  pos = 0;
  /** Stream offset of buf[0]. */
  base = 0;
  /** Bytes the last failed try* needed from `pos`. */
  short = 0;
  /** Set by tryLength: whether the length was a special encoding (RDB_ENC_*). */
  encoded = false;
  /** Absolute offset before which bytes may be dropped; -1: only `pos` matters. */
  keep = -1;
  /** Key being read, for error messages. */
  key: Buffer | undefined;
  /** True once the input has no more chunks. */
  ended = false;
  private readonly iterator: AsyncIterator<Uint8Array>;
  private readonly crc: Crc64 | undefined;
  /** The checksum thread (big inputs): gets every chunk, folds up to what was consumed. */
  private readonly crcWorker: Worker | undefined;
  /** The checksum thread reads the input from this file (opened here, closed by close()). */
  private crcFd: number | undefined;
  private crcAt = 0;
  /** The last offset the checksum thread was told to fold up to. */
  private crcPosted = 0;

  /**
   * @param checksum keep a CRC64 of what is consumed
   * @param checksumThread compute it on a worker thread (worth it for big inputs: the parsing thread
   *   then only copies each chunk once to the worker)
   * @param checksumFile a file whose content from its first byte is the input (an RDB file, a
   *   snapshot spool that may still be growing): the checksum thread reads it there, and the parsing
   *   thread copies nothing
   */
  constructor(
    input: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    checksum: boolean,
    checksumThread = false,
    checksumFile?: string,
  ) {
    this.iterator =
      input === NO_INPUT
        ? EMPTY_ITERATOR
        : Symbol.asyncIterator in input
          ? (input as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]()
          : toAsync((input as Iterable<Uint8Array>)[Symbol.iterator]());
    if (checksum && checksumThread) {
      if (checksumFile !== undefined) {
        try {
          // opened now, while the file surely exists (a spool file is removed once read)
          this.crcFd = openSync(checksumFile, 'r');
        } catch {
          this.crcFd = undefined; // then the chunks are posted
        }
      }
      this.crcWorker = new Worker(new URL('./crc-worker.js', import.meta.url), {
        workerData: { fd: this.crcFd },
      });
      this.crcWorker.unref();
    } else if (checksum) this.crc = new Crc64();
  }

  /** A source over one buffer already in memory (a captured value, a DUMP payload). */
  static of(buffer: Buffer): ByteSource {
    const src = new ByteSource(NO_INPUT, false);
    src.buf = buffer;
    src.ended = true;
    return src;
  }

  get offset(): number {
    return this.base + this.pos;
  }

  avail(): number {
    return this.buf.length - this.pos;
  }

  fail(message: string, at = this.offset): never {
    throw corrupt(message, { offset: at, ...(this.key ? { key: this.key } : {}) });
  }

  /** Folds consumed bytes up to absolute offset `upTo` into the running CRC64. */
  foldCrc(upTo: number): void {
    if (upTo <= this.crcAt) return;
    if (this.crcWorker) {
      // the thread is told every few MB (a message a fill cost the parsing thread more than the
      // checksum); crcDigest() sends the last offset
      if (upTo - this.crcPosted >= CRC_POST_BYTES) {
        this.crcWorker.postMessage({ upTo });
        this.crcPosted = upTo;
      }
    } else if (this.crc) this.crc.update(this.buf, this.crcAt - this.base, upTo - this.base);
    this.crcAt = upTo;
  }

  /** The CRC64 of everything folded so far, as Redis writes it; undefined when not kept. */
  async crcDigest(): Promise<Buffer | undefined> {
    const worker = this.crcWorker;
    if (!worker) return this.crc?.digest();
    const state = await new Promise<{ hi: number; lo: number; at: number; error?: string }>(
      (resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
        worker.postMessage({ upTo: this.crcAt, reply: true });
      },
    );
    if (state.error) throw new Error(`checksum thread: ${state.error}`);
    if (state.at !== this.crcAt)
      throw new Error(`checksum thread folded ${state.at} bytes, not ${this.crcAt}`);
    const c = new Crc64();
    c.hi = state.hi;
    c.lo = state.lo;
    return c.digest();
  }

  /** Ensures `n` bytes are available from `pos`; fails with RDB_CORRUPT (truncated) at end of input. */
  async fill(n: number, what = 'data'): Promise<void> {
    if (this.buf.length - this.pos >= n) return;
    const from = this.keep >= 0 ? Math.min(this.keep - this.base, this.pos) : this.pos;
    this.foldCrc(this.base + from);
    const parts: Buffer[] = [this.buf.subarray(from)];
    let have = this.buf.length - this.pos;
    while (have < n) {
      const next = this.ended ? { done: true as const, value: undefined } : await this.iterator.next();
      if (next.done) {
        this.ended = true;
        break;
      }
      const chunk = Buffer.isBuffer(next.value)
        ? next.value
        : Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength);
      if (chunk.length === 0) continue;
      if (this.crcFd === undefined) this.crcWorker?.postMessage({ chunk });
      parts.push(chunk);
      have += chunk.length;
    }
    this.buf = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
    this.base += from;
    this.pos -= from;
    if (have < n) {
      this.fail(
        `input ends after ${this.base + this.buf.length} bytes, in the middle of ${what} (${n - have} more bytes needed)`,
        this.base + this.buf.length,
      );
    }
  }

  /** Lets go of the input (its generator's finally blocks run: spool files get removed). */
  async close(): Promise<void> {
    this.ended = true;
    await this.crcWorker?.terminate();
    if (this.crcFd !== undefined) {
      closeSync(this.crcFd);
      this.crcFd = undefined;
    }
    await this.iterator.return?.();
  }

  tryU8(): number {
    if (this.pos >= this.buf.length) {
      this.short = 1;
      return -1;
    }
    return this.buf[this.pos++] as number;
  }

  /** An RDB length (rdbLoadLenByRef); -1 when more bytes are needed. Sets `encoded`. */
  tryLength(): number {
    const buf = this.buf;
    const p = this.pos;
    if (p >= buf.length) {
      this.short = 1;
      return -1;
    }
    const b = buf[p] as number;
    const kind = b >> 6;
    if (kind === 0) {
      this.encoded = false;
      this.pos = p + 1;
      return b & 0x3f;
    }
    if (kind === 3) {
      this.encoded = true;
      this.pos = p + 1;
      return b & 0x3f;
    }
    this.encoded = false;
    if (kind === 1) {
      if (p + 2 > buf.length) {
        this.short = 2;
        return -1;
      }
      this.pos = p + 2;
      return ((b & 0x3f) << 8) | (buf[p + 1] as number);
    }
    if (b === 0x80) {
      if (p + 5 > buf.length) {
        this.short = 5;
        return -1;
      }
      this.pos = p + 5;
      return buf.readUInt32BE(p + 1);
    }
    if (b === 0x81) {
      if (p + 9 > buf.length) {
        this.short = 9;
        return -1;
      }
      const v = buf.readBigUInt64BE(p + 1);
      if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`length ${v} is larger than any real value`);
      this.pos = p + 9;
      return Number(v);
    }
    this.fail(`invalid length encoding byte 0x${b.toString(16)}`);
  }

  /** A full 64-bit length (module ids, stream ids); undefined when more bytes are needed. */
  tryBigLength(): bigint | undefined {
    const p = this.pos;
    if (p < this.buf.length && this.buf[p] === 0x81) {
      if (p + 9 > this.buf.length) {
        this.short = 9;
        return undefined;
      }
      this.pos = p + 9;
      return this.buf.readBigUInt64BE(p + 1);
    }
    const n = this.tryPlainLength();
    return n < 0 ? undefined : BigInt(n);
  }

  /** A plain (never special-encoded) length; -1 when more bytes are needed. */
  tryPlainLength(): number {
    const start = this.pos;
    const n = this.tryLength();
    if (n >= 0 && this.encoded) this.fail('a special encoding where a plain length was expected', start);
    return n;
  }

  /**
   * A string object (rdbGenericLoadStringObject): raw, int-encoded or LZF. Undefined when more bytes
   * are needed (then nothing is consumed). `skip` advances without building the value.
   */
  tryString(skip = false): Buffer | undefined {
    const start = this.pos;
    const len = this.tryLength();
    if (len < 0) return undefined;
    const buf = this.buf;
    if (this.encoded) {
      const p = this.pos;
      switch (len) {
        case 0: // RDB_ENC_INT8
          if (p + 1 > buf.length) return this.need(start, p + 1);
          this.pos = p + 1;
          return skip ? EMPTY : Buffer.from(String(buf.readInt8(p)), 'latin1');
        case 1: // RDB_ENC_INT16
          if (p + 2 > buf.length) return this.need(start, p + 2);
          this.pos = p + 2;
          return skip ? EMPTY : Buffer.from(String(buf.readInt16LE(p)), 'latin1');
        case 2: // RDB_ENC_INT32
          if (p + 4 > buf.length) return this.need(start, p + 4);
          this.pos = p + 4;
          return skip ? EMPTY : Buffer.from(String(buf.readInt32LE(p)), 'latin1');
        case 3: {
          // RDB_ENC_LZF: compressed length, uncompressed length, data
          const clen = this.tryPlainLength();
          if (clen < 0) return this.need(start, this.pos + this.short);
          const ulen = this.tryPlainLength();
          if (ulen < 0) return this.need(start, this.pos + this.short);
          if (clen > MAX_STRING || ulen > MAX_STRING)
            this.fail(`LZF string of ${ulen} bytes is larger than any real value`, start);
          // LZF expands at most ~132×: a bigger claim is a lie that must not drive an allocation
          if (ulen > clen * 264 + 64)
            this.fail(`LZF string claims ${ulen} bytes from ${clen} compressed`, start);
          const p2 = this.pos;
          if (p2 + clen > buf.length) return this.need(start, p2 + clen);
          this.pos = p2 + clen;
          if (skip) return EMPTY;
          const out = lzfDecompress(view(buf, p2, p2 + clen), ulen);
          if (!out) this.fail(`LZF data does not decompress to ${ulen} bytes`, p2);
          return out;
        }
        default:
          this.fail(`unknown string encoding ${len}`, start);
      }
    }
    if (len > MAX_STRING) this.fail(`string of ${len} bytes is larger than any real value`, start);
    const p = this.pos;
    if (p + len > buf.length) return this.need(start, p + len);
    this.pos = p + len;
    return skip ? EMPTY : view(buf, p, p + len);
  }

  /** Rewinds to `start` and records how many bytes (from start) are needed up to `end`. */
  private need(start: number, end: number): undefined {
    this.short = end - start;
    this.pos = start;
    return undefined;
  }

  /** `n` raw bytes, or undefined (short = n). */
  tryBytes(n: number): Buffer | undefined {
    if (this.pos + n > this.buf.length) {
      this.short = n;
      return undefined;
    }
    const out = view(this.buf, this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
}

/** ByteSource.of's input: nothing to read beyond the buffer (shared, so no iterator per value). */
const NO_INPUT: Iterable<Uint8Array> = [];
const EMPTY_ITERATOR: AsyncIterator<Uint8Array> = {
  next: () => Promise.resolve({ done: true, value: undefined }),
};

async function* toAsync(it: Iterator<Uint8Array>): AsyncGenerator<Uint8Array> {
  for (let r = it.next(); !r.done; r = it.next()) yield r.value;
}
