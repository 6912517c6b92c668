// Types of crc64-core.js (plain JavaScript so the checksum worker thread can load it as is).

/** An incremental CRC64 (Jones, as Redis's crc64.c) kept as two 32-bit halves. */
export declare class Crc64 {
  hi: number;
  lo: number;
  update(buf: Uint8Array, start?: number, end?: number): this;
  /** The JavaScript loop itself (what update() uses for short inputs, or without WebAssembly). */
  updateJs(buf: Uint8Array, start: number, end: number): this;
  /** Resets this to the CRC64 of a DUMP payload's body (type byte, value, 2-byte RDB version). */
  dumpBody(rdbType: number, value: Uint8Array, rdbVersion: number): this;
  /** The checksum as Redis writes it after EOF: 8 bytes little-endian. */
  digest(): Buffer;
  value(): bigint;
}

export declare function crc64(buf: Uint8Array): bigint;

/** Which loop update() uses for inputs of 32 bytes and more ('js' without WebAssembly, or FERRY_CRC_JS=1). */
export declare const CRC64_BACKEND: 'wasm' | 'js';
