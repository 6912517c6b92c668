import * as C from './constants.js';
import type { ByteSource } from './source.js';
import {
  type ValueChunk,
  type ValueGen,
  type ValueOptions,
  waitBigLen,
  waitBytes,
  waitString,
} from './value-io.js';

/** An array index no element may have (Redis's "no insert index"; UINT64_MAX). */
const NO_INDEX = 0xffffffffffffffffn;

/**
 * A float element as Redis prints it (d2string): integral values without a fraction, "inf",
 * "-inf", "nan", others in their shortest form that reads back the same.
 */
function floatText(v: number): string {
  if (Number.isNaN(v)) return 'nan';
  if (v === Number.POSITIVE_INFINITY) return 'inf';
  if (v === Number.NEGATIVE_INFINITY) return '-inf';
  if (Number.isInteger(v) && Math.abs(v) < 2 ** 53) return String(v === 0 ? 0 : v);
  return String(v);
}

/**
 * A Redis 8.8 ARRAY (RDB_TYPE_ARRAY, RDB 14), as redis/librdb's parser reads it (elementArray): the
 * element count (never 0), an insert-index flag (0 or 1) and, when 1, the insert index; then each
 * element as its index (a plain length), its tag (AR_RDB_TAG_*) and its payload — 8 bytes
 * little-endian for an integer or a double, an RDB string for the others. In bounded chunks.
 */
export function* readArray(src: ByteSource, o: ValueOptions): ValueGen {
  const at = src.offset;
  const count = yield* waitBigLen(src);
  if (count === 0n) src.fail('an ARRAY with 0 elements', at);
  const flag = yield* waitBigLen(src);
  if (flag > 1n) src.fail(`an ARRAY's insert-index flag is ${flag}, not 0 or 1`, at);
  const insert = flag === 1n ? yield* waitBigLen(src) : undefined;
  const n = Number(count);
  let chunk: Extract<ValueChunk, { type: 'array' }> = {
    type: 'array',
    count: n,
    items: [],
    ...(insert !== undefined && insert !== NO_INDEX ? { insertIndex: String(insert) } : {}),
  };
  let bytes = 0;
  for (let i = 0; i < n; i++) {
    const elementAt = src.offset;
    const index = yield* waitBigLen(src); // a plain length: an encoded one fails there
    if (index === NO_INDEX) src.fail(`an ARRAY element with index ${index}`, elementAt);
    const tag = Number(yield* waitBigLen(src));
    let value: Buffer;
    if (tag === C.AR_RDB_TAG_INT) value = Buffer.from(String((yield* waitBytes(src, 8)).readBigInt64LE(0)));
    else if (tag === C.AR_RDB_TAG_FLOAT)
      value = Buffer.from(floatText((yield* waitBytes(src, 8)).readDoubleLE(0)));
    else if (tag === C.AR_RDB_TAG_SDS || tag === C.AR_RDB_TAG_SMALLSTR)
      value = yield* waitString(src, !o.decode);
    else src.fail(`an ARRAY element with tag ${tag} (0–3 are defined)`, elementAt);
    if (!o.decode) continue;
    chunk.items.push([String(index), value]);
    bytes += value.length;
    if (chunk.items.length >= o.chunkElements || bytes >= o.chunkBytes) {
      yield chunk;
      chunk = { type: 'array', count: n, items: [] };
      bytes = 0;
    }
  }
  if (o.decode && chunk.items.length > 0) yield chunk;
}
