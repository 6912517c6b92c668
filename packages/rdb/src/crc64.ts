/**
 * CRC-64/Jones as Redis computes it (crc64.c: reflected, polynomial 0xad93d23594c935a9, init 0,
 * no final xor), over 32-bit halves so it runs without BigInt. Slicing by 8 tables.
 */
const POLY_HI = 0x95ac9329; // reflected 0xad93d23594c935a9, high half
const POLY_LO = 0xac4bc9b5; // low half

const T_HI: Uint32Array[] = [];
const T_LO: Uint32Array[] = [];
{
  const hi0 = new Uint32Array(256);
  const lo0 = new Uint32Array(256);
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
    hi0[n] = hi;
    lo0[n] = lo;
  }
  T_HI.push(hi0);
  T_LO.push(lo0);
  for (let t = 1; t < 8; t++) {
    const ph = T_HI[t - 1] as Uint32Array;
    const pl = T_LO[t - 1] as Uint32Array;
    const h = new Uint32Array(256);
    const l = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      const prevHi = ph[n] as number;
      const prevLo = pl[n] as number;
      const idx = prevLo & 0xff;
      l[n] = ((((prevLo >>> 8) | ((prevHi & 0xff) << 24)) >>> 0) ^ (lo0[idx] as number)) >>> 0;
      h[n] = ((prevHi >>> 8) ^ (hi0[idx] as number)) >>> 0;
    }
    T_HI.push(h);
    T_LO.push(l);
  }
}
const [H0, H1, H2, H3, H4, H5, H6, H7] = T_HI as [
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
];
const [L0, L1, L2, L3, L4, L5, L6, L7] = T_LO as [
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
];

/** An incremental CRC64 (Jones) as two 32-bit halves. */
export class Crc64 {
  hi = 0;
  lo = 0;

  update(buf: Uint8Array, start = 0, end = buf.length): this {
    let hi = this.hi;
    let lo = this.lo;
    let i = start;
    for (; i + 8 <= end; i += 8) {
      const a =
        lo ^
        ((buf[i] as number) |
          ((buf[i + 1] as number) << 8) |
          ((buf[i + 2] as number) << 16) |
          ((buf[i + 3] as number) << 24));
      const b =
        hi ^
        ((buf[i + 4] as number) |
          ((buf[i + 5] as number) << 8) |
          ((buf[i + 6] as number) << 16) |
          ((buf[i + 7] as number) << 24));
      lo =
        ((L7[a & 0xff] as number) ^
          (L6[(a >>> 8) & 0xff] as number) ^
          (L5[(a >>> 16) & 0xff] as number) ^
          (L4[a >>> 24] as number) ^
          (L3[b & 0xff] as number) ^
          (L2[(b >>> 8) & 0xff] as number) ^
          (L1[(b >>> 16) & 0xff] as number) ^
          (L0[b >>> 24] as number)) >>>
        0;
      hi =
        ((H7[a & 0xff] as number) ^
          (H6[(a >>> 8) & 0xff] as number) ^
          (H5[(a >>> 16) & 0xff] as number) ^
          (H4[a >>> 24] as number) ^
          (H3[b & 0xff] as number) ^
          (H2[(b >>> 8) & 0xff] as number) ^
          (H1[(b >>> 16) & 0xff] as number) ^
          (H0[b >>> 24] as number)) >>>
        0;
    }
    for (; i < end; i++) {
      const idx = (lo ^ (buf[i] as number)) & 0xff;
      lo = ((((lo >>> 8) | ((hi & 0xff) << 24)) >>> 0) ^ (L0[idx] as number)) >>> 0;
      hi = ((hi >>> 8) ^ (H0[idx] as number)) >>> 0;
    }
    this.hi = hi;
    this.lo = lo;
    return this;
  }

  /** The checksum as Redis writes it after EOF: 8 bytes little-endian. */
  digest(): Buffer {
    const out = Buffer.allocUnsafe(8);
    out.writeUInt32LE(this.lo, 0);
    out.writeUInt32LE(this.hi, 4);
    return out;
  }

  value(): bigint {
    return (BigInt(this.hi) << 32n) | BigInt(this.lo);
  }
}

export function crc64(buf: Uint8Array): bigint {
  return new Crc64().update(buf).value();
}
