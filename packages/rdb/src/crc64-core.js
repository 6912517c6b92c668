// Plain JavaScript (not TypeScript) so that the checksum worker thread (crc-worker.js) can load
// the very same code from src/ under the tests and from dist/ in production.

/**
 * CRC-64/Jones as Redis computes it (crc64.c: reflected, polynomial 0xad93d23594c935a9, init 0,
 * no final xor), over 32-bit halves so it runs without BigInt, slicing by 8.
 *
 * The eight 256-entry tables live in one Uint32Array of [hi, lo] pairs: table t, byte n is at
 * (t << 9) + (n << 1). One array instead of sixteen keeps V8 from reloading table bases, which made
 * this 2.4× faster than separate hi/lo tables.
 */
const POLY_HI = 0x95ac9329; // reflected 0xad93d23594c935a9, high half
const POLY_LO = 0xac4bc9b5; // low half

const T = new Uint32Array(8 * 256 * 2);
for (let n = 0; n < 256; n++) {
  let hi = 0;
  let lo = n;
  for (let k = 0; k < 8; k++) {
    const carry = lo & 1;
    lo = ((lo >>> 1) | ((hi & 1) << 31)) >>> 0;
    hi >>>= 1;
    if (carry) {
      hi = (hi ^ POLY_HI) >>> 0;
      lo = (lo ^ POLY_LO) >>> 0;
    }
  }
  T[n << 1] = hi;
  T[(n << 1) + 1] = lo;
}
for (let t = 1; t < 8; t++) {
  for (let n = 0; n < 256; n++) {
    const prevHi = T[((t - 1) << 9) + (n << 1)];
    const prevLo = T[((t - 1) << 9) + (n << 1) + 1];
    const idx = (prevLo & 0xff) << 1;
    T[(t << 9) + (n << 1)] = ((prevHi >>> 8) ^ T[idx]) >>> 0;
    T[(t << 9) + (n << 1) + 1] = ((((prevLo >>> 8) | ((prevHi & 0xff) << 24)) >>> 0) ^ T[idx + 1]) >>> 0;
  }
}

/*
 * The same slicing-by-8 in WebAssembly, which has 64-bit integers: one i64 load and eight table
 * loads per 8 bytes instead of sixteen 32-bit ones. Measured about 4x faster than the JavaScript
 * loop; the checksum of every RESTORE payload was the biggest single cost of a snapshot.
 * Hand-assembled (the module is 200 bytes; no toolchain needed to rebuild it). Memory: the eight
 * tables at 0 (T[t][n] as an i64 at (t * 256 + n) * 8), the running CRC at STATE, input at DATA.
 * Exports: memory "m", and "crc"(ptr, len) folding len bytes at ptr into the CRC at STATE.
 */
const STATE = 16384;
const DATA = 16392;
const WASM_CHUNK = 65536;

/** @param {number} n */
function uleb(n) {
  const out = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}
/** @param {number} n (small, non-negative here) */
function sleb(n) {
  const out = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}
/** @param {number} id @param {number[]} body */
const section = (id, body) => [id, ...uleb(body.length), ...body];

function wasmModule() {
  const get = (i) => [0x20, i];
  const set = (i) => [0x21, i];
  const i32 = (n) => [0x41, ...sleb(n)];
  const i64 = (n) => [0x42, ...sleb(n)];
  const load64 = (offset) => [0x29, 0x03, ...uleb(offset)];
  const AND = 0x83;
  const XOR = 0x85;
  const SHR = 0x88;
  const WRAP = 0xa7;
  const SHL32 = 0x74;
  // T[table][(crc >> shift) & 0xff]
  const lookup = (shift, table) => [
    ...get(3),
    ...(shift ? [...i64(shift), SHR] : []),
    ...(shift < 56 ? [...i64(0xff), AND] : []),
    WRAP,
    ...i32(3),
    SHL32,
    ...load64(table * 2048),
  ];
  const [ADD32, SUB32, LTU32, GEU32] = [0x6a, 0x6b, 0x49, 0x4f];
  const [BLOCK, LOOP, VOID, BR, BR_IF, END] = [0x02, 0x03, 0x40, 0x0c, 0x0d, 0x0b];
  const LOAD8 = [0x31, 0x00, 0x00]; // i64.load8_u, no alignment hint, offset 0
  const STORE64 = [0x37, 0x03, 0x00];
  const code = [
    [...get(0), ...get(1), ADD32, ...set(2)], // end = ptr + len
    [...i32(STATE), ...load64(0), ...set(3)], // crc = *STATE
    [BLOCK, VOID, LOOP, VOID], // 8 bytes at a time
    [...get(2), ...get(0), SUB32, ...i32(8), LTU32, BR_IF, 1], // out when end - ptr < 8
    [...get(3), ...get(0), 0x29, 0x00, 0x00, XOR, ...set(3)], // crc ^= *(u64 *)ptr
    [...lookup(0, 7), ...lookup(8, 6), XOR, ...lookup(16, 5), XOR, ...lookup(24, 4), XOR],
    [...lookup(32, 3), XOR, ...lookup(40, 2), XOR, ...lookup(48, 1), XOR, ...lookup(56, 0), XOR],
    [...set(3), ...get(0), ...i32(8), ADD32, ...set(0)], // crc = the lookups; ptr += 8
    [BR, 0, END, END],
    [BLOCK, VOID, LOOP, VOID], // the last bytes one by one
    [...get(0), ...get(2), GEU32, BR_IF, 1], // out when ptr >= end
    [...get(3), ...get(0), ...LOAD8, XOR, ...i64(0xff), AND, WRAP, ...i32(3), SHL32, ...load64(0)],
    [...get(3), ...i64(8), SHR, XOR, ...set(3)], // crc = T[0][(crc ^ *ptr) & 0xff] ^ (crc >> 8)
    [...get(0), ...i32(1), ADD32, ...set(0)], // ptr += 1
    [BR, 0, END, END],
    [...i32(STATE), ...get(3), ...STORE64, END], // *STATE = crc
  ].flat();
  const body = [0x02, 0x01, 0x7f, 0x01, 0x7e, ...code]; // locals: end i32, crc i64
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00], // "\0asm", version 1
    ...section(1, [0x01, 0x60, 0x02, 0x7f, 0x7f, 0x00]), // type (i32, i32) -> ()
    ...section(3, [0x01, 0x00]),
    ...section(5, [0x01, 0x00, 0x02]), // memory: 2 pages (tables, state, a 64 KB input window)
    ...section(7, [0x02, 0x01, 0x6d, 0x02, 0x00, 0x03, 0x63, 0x72, 0x63, 0x00, 0x00]),
    ...section(10, [0x01, ...uleb(body.length), ...body]),
  ]);
}

/** @type {{ crc: (ptr: number, len: number) => void, mem: Uint8Array, state: Uint32Array } | undefined} */
const W = (() => {
  if (typeof WebAssembly === 'undefined' || process.env.FERRY_CRC_JS === '1') return undefined;
  try {
    const instance = new WebAssembly.Instance(new WebAssembly.Module(wasmModule()));
    const memory = /** @type {WebAssembly.Memory} */ (instance.exports.m);
    const words = new Uint32Array(memory.buffer);
    for (let i = 0; i < 8 * 256; i++) {
      words[i * 2] = T[i * 2 + 1]; // lo first: the i64 is little-endian
      words[i * 2 + 1] = T[i * 2];
    }
    return {
      crc: /** @type {(ptr: number, len: number) => void} */ (instance.exports.crc),
      mem: new Uint8Array(memory.buffer),
      state: new Uint32Array(memory.buffer, STATE, 2),
    };
  } catch {
    return undefined; // no WebAssembly here: the JavaScript loop does it
  }
})();

const TYPE_BYTE = new Uint8Array(1);
const VERSION_BYTES = new Uint8Array(2);

/** Which loop update() uses for inputs of WASM_MIN bytes and more. */
export const CRC64_BACKEND = W === undefined ? 'js' : 'wasm';

/** Inputs shorter than this are folded in JavaScript (the copy into WebAssembly would cost more). */
const WASM_MIN = 32;

/** An incremental CRC64 (Jones) as two 32-bit halves. */
export class Crc64 {
  hi = 0;
  lo = 0;

  /**
   * @param {Uint8Array} buf
   * @param {number} [start]
   * @param {number} [end]
   * @returns {this}
   */
  update(buf, start = 0, end = buf.length) {
    if (W !== undefined && end - start >= WASM_MIN) {
      W.state[0] = this.lo;
      W.state[1] = this.hi;
      for (let p = start; p < end; p += WASM_CHUNK) {
        const n = Math.min(WASM_CHUNK, end - p);
        W.mem.set(p === 0 && n === buf.length ? buf : buf.subarray(p, p + n), DATA);
        W.crc(DATA, n);
      }
      this.lo = W.state[0];
      this.hi = W.state[1];
      return this;
    }
    return this.updateJs(buf, start, end);
  }

  /**
   * The JavaScript loop (short inputs, or no WebAssembly).
   * @param {Uint8Array} buf
   * @param {number} start
   * @param {number} end
   * @returns {this}
   */
  updateJs(buf, start, end) {
    // int32 inside the loops (Smi-friendly: `>>> 0` there would box values into heap numbers)
    let hi = this.hi | 0;
    let lo = this.lo | 0;
    let i = start;
    for (; i + 8 <= end; i += 8) {
      const a = lo ^ (buf[i] | (buf[i + 1] << 8) | (buf[i + 2] << 16) | (buf[i + 3] << 24));
      const b = hi ^ (buf[i + 4] | (buf[i + 5] << 8) | (buf[i + 6] << 16) | (buf[i + 7] << 24));
      const i7 = 3584 + ((a & 0xff) << 1);
      const i6 = 3072 + (((a >>> 8) & 0xff) << 1);
      const i5 = 2560 + (((a >>> 16) & 0xff) << 1);
      const i4 = 2048 + ((a >>> 24) << 1);
      const i3 = 1536 + ((b & 0xff) << 1);
      const i2 = 1024 + (((b >>> 8) & 0xff) << 1);
      const i1 = 512 + (((b >>> 16) & 0xff) << 1);
      const i0 = (b >>> 24) << 1;
      hi = T[i7] ^ T[i6] ^ T[i5] ^ T[i4] ^ T[i3] ^ T[i2] ^ T[i1] ^ T[i0];
      lo = T[i7 + 1] ^ T[i6 + 1] ^ T[i5 + 1] ^ T[i4 + 1] ^ T[i3 + 1] ^ T[i2 + 1] ^ T[i1 + 1] ^ T[i0 + 1];
    }
    for (; i < end; i++) {
      const idx = ((lo ^ buf[i]) & 0xff) << 1;
      lo = ((lo >>> 8) | ((hi & 0xff) << 24)) ^ T[idx + 1];
      hi = (hi >>> 8) ^ T[idx];
    }
    this.hi = hi >>> 0;
    this.lo = lo >>> 0;
    return this;
  }

  /**
   * Resets this to the CRC64 of a DUMP payload's body: the type byte, the value, the 2-byte RDB
   * version; without building it (the value is copied once, into WebAssembly memory, or not at all).
   * @param {number} rdbType
   * @param {Uint8Array} value
   * @param {number} rdbVersion
   * @returns {this}
   */
  dumpBody(rdbType, value, rdbVersion) {
    const n = value.length;
    if (W !== undefined && n >= WASM_MIN && n + 3 <= WASM_CHUNK) {
      const m = W.mem;
      m[DATA] = rdbType;
      m.set(value, DATA + 1);
      m[DATA + 1 + n] = rdbVersion & 0xff;
      m[DATA + 2 + n] = rdbVersion >>> 8;
      W.state[0] = 0;
      W.state[1] = 0;
      W.crc(DATA, n + 3);
      this.lo = W.state[0];
      this.hi = W.state[1];
      return this;
    }
    this.hi = 0;
    this.lo = 0;
    TYPE_BYTE[0] = rdbType;
    this.updateJs(TYPE_BYTE, 0, 1);
    this.update(value, 0, n);
    VERSION_BYTES[0] = rdbVersion & 0xff;
    VERSION_BYTES[1] = rdbVersion >>> 8;
    return this.updateJs(VERSION_BYTES, 0, 2);
  }

  /** The checksum as Redis writes it after EOF: 8 bytes little-endian. */
  /** @returns {Buffer} */
  digest() {
    const out = Buffer.allocUnsafe(8);
    out.writeUInt32LE(this.lo, 0);
    out.writeUInt32LE(this.hi, 4);
    return out;
  }

  /** @returns {bigint} */
  value() {
    return (BigInt(this.hi) << 32n) | BigInt(this.lo);
  }
}

/**
 * @param {Uint8Array} buf
 * @returns {bigint}
 */
export function crc64(buf) {
  return new Crc64().update(buf).value();
}
