/* Names follow Redis's rdb.h so a reader can grep Redis for their meaning. */

export const RDB_TYPE_STRING = 0;
export const RDB_TYPE_LIST = 1;
export const RDB_TYPE_SET = 2;
export const RDB_TYPE_ZSET = 3;
export const RDB_TYPE_HASH = 4;
export const RDB_TYPE_ZSET_2 = 5; // binary double scores
export const RDB_TYPE_MODULE_PRE_GA = 6; // RDB_TYPE_MODULE: cannot be walked without the module
export const RDB_TYPE_MODULE_2 = 7;
export const RDB_TYPE_HASH_ZIPMAP = 9;
export const RDB_TYPE_LIST_ZIPLIST = 10;
export const RDB_TYPE_SET_INTSET = 11;
export const RDB_TYPE_ZSET_ZIPLIST = 12;
export const RDB_TYPE_HASH_ZIPLIST = 13;
export const RDB_TYPE_LIST_QUICKLIST = 14;
export const RDB_TYPE_STREAM_LISTPACKS = 15;
export const RDB_TYPE_HASH_LISTPACK = 16;
export const RDB_TYPE_ZSET_LISTPACK = 17;
export const RDB_TYPE_LIST_QUICKLIST_2 = 18;
export const RDB_TYPE_STREAM_LISTPACKS_2 = 19;
export const RDB_TYPE_SET_LISTPACK = 20;
export const RDB_TYPE_STREAM_LISTPACKS_3 = 21;
export const RDB_TYPE_HASH_METADATA_PRE_GA = 22;
export const RDB_TYPE_HASH_LISTPACK_EX_PRE_GA = 23;
export const RDB_TYPE_HASH_METADATA = 24;
export const RDB_TYPE_HASH_LISTPACK_EX = 25;
/** Redis 8.6 (RDB 13): a stream with its idempotent-producer (IDMP) state after the groups. */
export const RDB_TYPE_STREAM_LISTPACKS_4 = 26;
/** Redis 8.8 (RDB 14): a type-26 stream whose groups each end with their NACK zone (XNACK). */
export const RDB_TYPE_STREAM_LISTPACKS_5 = 27;
/** Redis 8.8 (RDB 14): the ARRAY type (index → element; element tags AR_RDB_TAG_*). */
export const RDB_TYPE_ARRAY = 28;
/**
 * Redis 8.10 (RDB 15): hashes encoded against a template of field names. The self-contained forms
 * (29, 31: DUMP's) carry the names; the REF forms (30, 32: an RDB file's) name a template the file
 * registers first with RDB_OPCODE_HASH_TEMPLATE.
 */
export const RDB_TYPE_HASH_TMPL_LP = 29;
export const RDB_TYPE_HASH_TMPL_LP_REF = 30;
export const RDB_TYPE_HASH_TMPL_ARRAY = 31;
export const RDB_TYPE_HASH_TMPL_ARRAY_REF = 32;
export const AR_RDB_TAG_SDS = 0;
export const AR_RDB_TAG_INT = 1;
export const AR_RDB_TAG_FLOAT = 2;
export const AR_RDB_TAG_SMALLSTR = 3;

/**
 * Valkey 9.0's `RDB_TYPE_HASH_2` (type byte 22 after the `VALKEY` magic: each field, value, then the
 * field's expiry in ms, -1 for none). The byte collides with Redis's 22 (`HASH_METADATA_PRE_GA`), so
 * the parser names it by this code, above any byte; `& 0xff` is the byte a DUMP payload carries.
 */
export const VALKEY_TYPE_HASH_2 = 0x100 | 22;

/** Redis 8.10 (RDB 15): a template of hash field names: its id, count and the names, ascending. */
export const RDB_OPCODE_HASH_TEMPLATE = 242;
/** Redis 8.6 (RDB 13): module key-metadata classes before a key's type byte (keymeta.c). */
export const RDB_OPCODE_KEY_META = 243;
export const RDB_OPCODE_SLOT_INFO = 244;
export const RDB_OPCODE_FUNCTION2 = 245;
export const RDB_OPCODE_FUNCTION_PRE_GA = 246;
export const RDB_OPCODE_MODULE_AUX = 247;
export const RDB_OPCODE_IDLE = 248;
export const RDB_OPCODE_FREQ = 249;
export const RDB_OPCODE_AUX = 250;
export const RDB_OPCODE_RESIZEDB = 251;
export const RDB_OPCODE_EXPIRETIME_MS = 252;
export const RDB_OPCODE_EXPIRETIME = 253;
export const RDB_OPCODE_SELECTDB = 254;
export const RDB_OPCODE_EOF = 255;

export const RDB_ENC_INT8 = 0;
export const RDB_ENC_INT16 = 1;
export const RDB_ENC_INT32 = 2;
export const RDB_ENC_LZF = 3;

export const RDB_MODULE_OPCODE_EOF = 0;
export const RDB_MODULE_OPCODE_SINT = 1;
export const RDB_MODULE_OPCODE_UINT = 2;
export const RDB_MODULE_OPCODE_FLOAT = 3;
export const RDB_MODULE_OPCODE_DOUBLE = 4;
export const RDB_MODULE_OPCODE_STRING = 5;

export const QUICKLIST_NODE_CONTAINER_PLAIN = 1;
export const QUICKLIST_NODE_CONTAINER_PACKED = 2;

/** Newest Redis RDB version this parser reads (7.4 → 8.4 write 12, 8.6 13, 8.8 14, 8.10 15). */
export const RDB_VERSION_MAX = 15;

/** The Valkey RDB versions this parser reads after the `VALKEY` magic (9.0 and 9.1 write 80). */
export const VALKEY_RDB_VERSIONS: readonly number[] = [80];

export type RedisType = 'string' | 'list' | 'set' | 'zset' | 'hash' | 'stream' | 'array' | 'module';

interface TypeInfo {
  type: RedisType;
  encoding: string;
}

/** Redis type and RDB encoding name of each value type byte. */
export const RDB_TYPES: ReadonlyMap<number, TypeInfo> = new Map([
  [RDB_TYPE_STRING, { type: 'string', encoding: 'string' }],
  [RDB_TYPE_LIST, { type: 'list', encoding: 'linkedlist' }],
  [RDB_TYPE_SET, { type: 'set', encoding: 'hashtable' }],
  [RDB_TYPE_ZSET, { type: 'zset', encoding: 'skiplist' }],
  [RDB_TYPE_HASH, { type: 'hash', encoding: 'hashtable' }],
  [RDB_TYPE_ZSET_2, { type: 'zset', encoding: 'skiplist' }],
  [RDB_TYPE_MODULE_2, { type: 'module', encoding: 'module' }],
  [RDB_TYPE_HASH_ZIPMAP, { type: 'hash', encoding: 'zipmap' }],
  [RDB_TYPE_LIST_ZIPLIST, { type: 'list', encoding: 'ziplist' }],
  [RDB_TYPE_SET_INTSET, { type: 'set', encoding: 'intset' }],
  [RDB_TYPE_ZSET_ZIPLIST, { type: 'zset', encoding: 'ziplist' }],
  [RDB_TYPE_HASH_ZIPLIST, { type: 'hash', encoding: 'ziplist' }],
  [RDB_TYPE_LIST_QUICKLIST, { type: 'list', encoding: 'quicklist' }],
  [RDB_TYPE_STREAM_LISTPACKS, { type: 'stream', encoding: 'stream' }],
  [RDB_TYPE_HASH_LISTPACK, { type: 'hash', encoding: 'listpack' }],
  [RDB_TYPE_ZSET_LISTPACK, { type: 'zset', encoding: 'listpack' }],
  [RDB_TYPE_LIST_QUICKLIST_2, { type: 'list', encoding: 'quicklist' }],
  [RDB_TYPE_STREAM_LISTPACKS_2, { type: 'stream', encoding: 'stream' }],
  [RDB_TYPE_SET_LISTPACK, { type: 'set', encoding: 'listpack' }],
  [RDB_TYPE_STREAM_LISTPACKS_3, { type: 'stream', encoding: 'stream' }],
  [RDB_TYPE_HASH_METADATA_PRE_GA, { type: 'hash', encoding: 'hashtable' }],
  [RDB_TYPE_HASH_LISTPACK_EX_PRE_GA, { type: 'hash', encoding: 'listpack' }],
  [RDB_TYPE_HASH_METADATA, { type: 'hash', encoding: 'hashtable' }],
  [RDB_TYPE_HASH_LISTPACK_EX, { type: 'hash', encoding: 'listpack' }],
  [RDB_TYPE_STREAM_LISTPACKS_4, { type: 'stream', encoding: 'stream' }],
  [RDB_TYPE_STREAM_LISTPACKS_5, { type: 'stream', encoding: 'stream' }],
  [RDB_TYPE_ARRAY, { type: 'array', encoding: 'array' }],
  [RDB_TYPE_HASH_TMPL_LP, { type: 'hash', encoding: 'listpack' }],
  [RDB_TYPE_HASH_TMPL_LP_REF, { type: 'hash', encoding: 'listpack' }],
  [RDB_TYPE_HASH_TMPL_ARRAY, { type: 'hash', encoding: 'hashtable' }],
  [RDB_TYPE_HASH_TMPL_ARRAY_REF, { type: 'hash', encoding: 'hashtable' }],
  [VALKEY_TYPE_HASH_2, { type: 'hash', encoding: 'hashtable' }],
]);

/**
 * The parser's code for a type byte read after the `VALKEY` magic: the bytes both lineages share
 * (0–21) as they are, 22 as `VALKEY_TYPE_HASH_2`; -1 for a byte Valkey 9.0 does not define (its
 * rdb.h reserves 22–243 as foreign: they mean other things after `REDIS`).
 */
export function valkeyType(byte: number): number {
  if (byte <= RDB_TYPE_STREAM_LISTPACKS_3) return byte;
  if (byte === 22) return VALKEY_TYPE_HASH_2;
  return -1;
}
