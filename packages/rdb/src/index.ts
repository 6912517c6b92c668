export * from './blobs.js';
export * from './constants.js';
export { CRC64_BACKEND, Crc64, crc64 } from './crc64.js';
export { dumpPayload, parseDumpPayload } from './dump.js';
export { lzfDecompress } from './lzf.js';
export * from './parser.js';
export type { StreamGroupInfo, StreamId, ValueChunk } from './values.js';
