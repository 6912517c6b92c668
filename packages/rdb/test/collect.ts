import { createReadStream } from 'node:fs';
import { type ParseOptions, type RdbEntry, RdbParser, type ValueChunk } from '../src/index.js';

/** A key with its value assembled (tests only: fixtures and test datasets are small). */
export interface ParsedKey {
  db: number;
  key: Buffer;
  type: string;
  encoding: string;
  expireAtMs: number | undefined;
  empty: boolean;
  chunks: ValueChunk[];
  raw?: Buffer;
}

export interface Parsed {
  keys: ParsedKey[];
  functions: Buffer[];
  aux: Map<string, Buffer>;
  checksum?: string;
}

export async function collect(
  source: string | AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: ParseOptions & { raw?: boolean; batched?: boolean } = {},
): Promise<Parsed> {
  const input = typeof source === 'string' ? createReadStream(source, { highWaterMark: 1 << 20 }) : source;
  const parser = new RdbParser(input, options);
  // the batched reader is flattened here: tests see the same entries either way
  async function* flat(): AsyncGenerator<RdbEntry> {
    if (!options.batched) {
      yield* parser.entries();
      return;
    }
    for await (const batch of parser.batches(64)) yield* batch;
  }
  const out: Parsed = { keys: [], functions: [], aux: new Map() };
  for await (const e of flat()) {
    if (e.kind === 'key') {
      const raw = options.raw ? await e.raw() : undefined;
      const chunks: ValueChunk[] = [];
      // the batched path decodes captured values at once, like a migration would
      const now = options.batched ? e.decoded() : undefined;
      if (now) chunks.push(...now);
      else for await (const c of e.chunks()) chunks.push(c);
      out.keys.push({
        db: e.db,
        key: e.key,
        type: e.type,
        encoding: e.encoding,
        expireAtMs: e.expireAtMs,
        empty: e.empty,
        chunks,
        ...(raw ? { raw } : {}),
      });
    } else if (e.kind === 'function') out.functions.push(e.code);
    else if (e.kind === 'aux') out.aux.set(e.key.toString('latin1'), e.value);
    else if (e.kind === 'eof') out.checksum = e.checksum;
  }
  return out;
}

export function items<T extends ValueChunk['type']>(
  k: ParsedKey,
  type: T,
): Array<Extract<ValueChunk, { type: T }>> {
  return k.chunks.filter((c): c is Extract<ValueChunk, { type: T }> => c.type === type);
}
