import * as C from './constants.js';
import { NEEDS_IO } from './entries.js';
import { checkFields } from './hash-template-value.js';
import type { ByteSource } from './source.js';

/* The parser's synchronous reads of opcode bodies: each throws NEEDS_IO when the window is short
 * (the parser's step() catches it and rolls back to the opcode). */

export function needLen(src: ByteSource): number {
  const n = src.tryPlainLength();
  if (n < 0) throw NEEDS_IO;
  return n;
}

export function needStr(src: ByteSource): Buffer {
  const s = src.tryString();
  if (s === undefined) throw NEEDS_IO;
  return s;
}

export function needBytes(src: ByteSource, n: number): Buffer {
  const b = src.tryBytes(n);
  if (b === undefined) throw NEEDS_IO;
  return b;
}

/**
 * Walks a module's data in the annotated encoding (each item after its RDB_MODULE_OPCODE_*) up to
 * its EOF opcode: MODULE_AUX bodies and key-metadata values. `what` names it in an error.
 */
export function skipModuleData(src: ByteSource, what: string): void {
  for (;;) {
    const opcode = needLen(src);
    if (opcode === C.RDB_MODULE_OPCODE_EOF) return;
    if (opcode === C.RDB_MODULE_OPCODE_SINT || opcode === C.RDB_MODULE_OPCODE_UINT) {
      if (src.tryBigLength() === undefined) throw NEEDS_IO;
    } else if (opcode === C.RDB_MODULE_OPCODE_FLOAT) needBytes(src, 4);
    else if (opcode === C.RDB_MODULE_OPCODE_DOUBLE) needBytes(src, 8);
    else if (opcode === C.RDB_MODULE_OPCODE_STRING) needStr(src);
    else src.fail(`unknown module opcode ${opcode} in ${what}`);
  }
}

/** keymeta.c's character set for class names (the module type names' set with "_-" in that order). */
const KEY_META_CHARSET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-';

/**
 * RDB_OPCODE_KEY_META's body (Redis 8.6 keymeta.c, rdbSaveKeyMetadata): the number of classes, then
 * for each its 32-bit class spec (4-character name in 6-bit characters, 5-bit version, 3-bit
 * flags) and the module's value in the annotated module encoding up to its EOF opcode. Returns the
 * classes as "META-<name>" (the module entity name Redis gives them).
 */
export function readKeyMeta(src: ByteSource): string[] {
  const n = needLen(src);
  const names: string[] = [];
  for (let i = 0; i < n; i++) {
    const spec = needBytes(src, 4).readUInt32LE(0);
    let name = '';
    let bits = spec >>> 8; // above the version and flags
    for (let c = 0; c < 4; c++) {
      name = (KEY_META_CHARSET[bits & 63] ?? '?') + name;
      bits >>>= 6;
    }
    const full = `META-${name}`;
    names.push(full);
    skipModuleData(src, `key metadata of class ${full}`);
  }
  return names;
}

/**
 * An RDB_OPCODE_HASH_TEMPLATE record, read synchronously (NEEDS_IO when the window is short): the
 * template's id, its field count and the names, which are copied out of the window into `registry`.
 */
export function readHashTemplateRecord(
  src: ByteSource,
  registry: Map<number, Buffer[]>,
  at: number,
  /** The file is RDB 15 or newer, of Redis: no other format defines opcode 242 this way. */
  defined: boolean,
): void {
  if (!defined)
    src.fail(
      "opcode 242 in a file that is not Redis's RDB 15: only that format defines it (hash templates)",
      at,
    );
  const id = needLen(src);
  const count = needLen(src);
  const fields: Buffer[] = [];
  for (let i = 0; i < count; i++) fields.push(needStr(src));
  if (registry.has(id)) src.fail(`hash template ${id} is registered twice`, at);
  checkFields(src, fields, at, `hash template ${id}`);
  registry.set(
    id,
    fields.map((f) => Buffer.from(f)),
  );
}
