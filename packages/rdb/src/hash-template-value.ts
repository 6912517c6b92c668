import { type BlobItem, itemToBuffer, listpackItems } from './blobs.js';
import * as C from './constants.js';
import type { ByteSource } from './source.js';
import {
  decodeBlob,
  type ValueChunk,
  type ValueGen,
  type ValueOptions,
  waitBigLen,
  waitLen,
  waitString,
} from './value-io.js';

/* Redis 8.10's template-encoded hashes (RDB 15), as redis/librdb's parser reads them
 * (elementHashTemplate, elementHashTmplLpRef, elementHashTmplArrayRef, elementHashTmplSelfContained). */

/** Template field names are strictly ascending by length, then bytes (Redis's sdscmplen). */
function ascending(a: Buffer, b: Buffer): boolean {
  return a.length !== b.length ? a.length < b.length : Buffer.compare(a, b) < 0;
}

export function checkFields(src: ByteSource, fields: Buffer[], at: number, what: string): void {
  if (fields.length === 0) src.fail(`${what} has no field`, at);
  for (let i = 1; i < fields.length; i++)
    if (!ascending(fields[i - 1] as Buffer, fields[i] as Buffer))
      src.fail(`${what}'s field names are not in ascending order`, at);
}

/** A listpack's entries (the values form, or FIELDS_LP's names): integers as their decimal text. */
function listpack(src: ByteSource, at: number, blob: Buffer, what: string): BlobItem[] {
  return decodeBlob(src, at, what, blob, listpackItems);
}

/** The values listpack's leading entry: a template id, a non-negative integer. */
function leadingId(src: ByteSource, at: number, items: BlobItem[], fields: number): number {
  const first = items[0];
  if (first === undefined || Buffer.isBuffer(first) || Number(first) < 0)
    src.fail('a template-encoded hash whose values listpack does not start with a template id', at);
  if (items.length !== fields + 1)
    src.fail(`a template-encoded hash with ${items.length - 1} values for ${fields} fields`, at);
  return Number(first);
}

/**
 * A template-encoded hash's field/value pairs in bounded chunks (no field TTLs). REF forms take their
 * names from `o.templates`; the self-contained ones read theirs first (0: a listpack of names,
 * 1: a count and the names).
 */
export function* readTemplateHash(src: ByteSource, rdbType: number, o: ValueOptions): ValueGen {
  const at = src.offset;
  const skip = !o.decode;
  let fields: Buffer[];
  if (rdbType === C.RDB_TYPE_HASH_TMPL_LP_REF || rdbType === C.RDB_TYPE_HASH_TMPL_ARRAY_REF) {
    let id: number;
    let values: BlobItem[] | undefined;
    if (rdbType === C.RDB_TYPE_HASH_TMPL_ARRAY_REF) id = Number(yield* waitBigLen(src));
    else {
      values = valuesListpack(src, at, yield* waitString(src, false));
      const first = values[0];
      id = first === undefined || Buffer.isBuffer(first) ? -1 : Number(first);
    }
    const named = o.templates?.get(id);
    if (!named)
      src.fail(`a template-encoded hash names template ${id}, which the file did not register before it`, at);
    fields = named;
    if (values) {
      yield* emitValues(src, at, values, fields, o);
      return;
    }
  } else {
    const format = yield* waitLen(src);
    if (format === 0) {
      const blob = yield* waitString(src, false);
      fields = listpack(src, at, blob, "a template hash's field names").map((x) =>
        Buffer.from(itemToBuffer(x)),
      );
    } else if (format === 1) {
      const count = yield* waitLen(src);
      fields = [];
      for (let i = 0; i < count; i++) fields.push(Buffer.from(yield* waitString(src, false)));
    } else src.fail(`a template-encoded hash with field format ${format} (0 and 1 are defined)`, at);
    checkFields(src, fields, at, 'a self-contained hash template');
    if (rdbType === C.RDB_TYPE_HASH_TMPL_LP) {
      yield* emitValues(src, at, valuesListpack(src, at, yield* waitString(src, false)), fields, o);
      return;
    }
  }
  // the array forms: a value string per field
  let items: Array<[Buffer, Buffer, number]> = [];
  for (const field of fields) {
    const value = yield* waitString(src, skip);
    if (skip) continue;
    items.push([field, value, 0]);
    if (items.length >= o.chunkElements) {
      yield { type: 'hash', items };
      items = [];
    }
  }
  if (!skip && items.length > 0) yield { type: 'hash', items };
}

/** The values listpack's entries (a template id, then a value per field), decoded once. */
function valuesListpack(src: ByteSource, at: number, lp: Buffer): BlobItem[] {
  return listpack(src, at, lp, 'a template hash listpack');
}

/** A values listpack's pairs with `fields`, after checking its leading id and its length. */
function* emitValues(
  src: ByteSource,
  at: number,
  items: BlobItem[],
  fields: Buffer[],
  o: ValueOptions,
): ValueGen {
  leadingId(src, at, items, fields.length);
  if (!o.decode) return;
  let out: Array<[Buffer, Buffer, number]> = [];
  for (let i = 0; i < fields.length; i++) {
    out.push([fields[i] as Buffer, itemToBuffer(items[i + 1] as BlobItem), 0]);
    if (out.length >= o.chunkElements) {
      yield { type: 'hash', items: out } as ValueChunk;
      out = [];
    }
  }
  if (out.length > 0) yield { type: 'hash', items: out };
}
