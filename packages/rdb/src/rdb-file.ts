import { createReadStream, statSync } from 'node:fs';
import type { ParseOptions, RdbEntry } from './entries.js';
import { RdbParser } from './parser.js';

/** Parses an RDB stream. */
export function parseRdb(
  input: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options?: ParseOptions,
): AsyncGenerator<RdbEntry> {
  return new RdbParser(input, options).entries();
}

/** Inputs bigger than this get their checksum computed on a worker thread by parseRdbFile. */
const CHECKSUM_THREAD_BYTES = 16 << 20;

/** A parser over an RDB file, reading it in 1 MB chunks (checksum on a worker thread past 16 MB). */
export function rdbFileParser(path: string, options: ParseOptions = {}): RdbParser {
  const checksumThread = options.checksumThread ?? statSync(path).size > CHECKSUM_THREAD_BYTES;
  return new RdbParser(createReadStream(path, { highWaterMark: 1 << 20 }), {
    ...options,
    checksumThread,
    checksumFile: path,
  });
}

/** Parses an RDB file (see rdbFileParser). */
export function parseRdbFile(path: string, options?: ParseOptions): AsyncGenerator<RdbEntry> {
  return rdbFileParser(path, options).entries();
}
