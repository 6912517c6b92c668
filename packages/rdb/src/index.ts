export * from './blobs.js';
export * from './constants.js';
export { CRC64_BACKEND, Crc64, crc64 } from './crc64.js';
export { type ChunkOptions, decodeBuffer, decodeSync } from './decode.js';
export { dumpPayload, parseDumpPayload } from './dump.js';
// (the parser's side of a key's value, NEEDS_IO and ValueReader, stays inside the package)
export {
  type AuxEntry,
  type EofEntry,
  type FunctionEntry,
  KeyEntry,
  type ModuleAuxEntry,
  type ParseOptions,
  type RdbEntry,
  type ResizeDbEntry,
  type SelectDbEntry,
  type SlotInfoEntry,
} from './entries.js';
export { lzfDecompress, lzfDecompressInto, lzfStringParts } from './lzf.js';
export * from './parser.js';
export * from './rdb-file.js';
export type { StreamGroupInfo, StreamId, ValueChunk } from './values.js';
