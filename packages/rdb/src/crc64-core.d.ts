// Types of crc64-core.js (plain JavaScript so the checksum worker thread can load it as is).

/** An incremental CRC64 (Jones, as Redis's crc64.c) kept as two 32-bit halves. */
export declare class Crc64 {
  hi: number;
  lo: number;
  update(buf: Uint8Array, start?: number, end?: number): this;
  /** The checksum as Redis writes it after EOF: 8 bytes little-endian. */
  digest(): Buffer;
  value(): bigint;
}

export declare function crc64(buf: Uint8Array): bigint;
