import { FerryError } from '@ferry/errors';

/** Where the parser is, for error messages: the byte offset and the key being read. */
export interface Position {
  offset: number;
  key?: Buffer;
}

function showKey(key: Buffer): string {
  const s = key
    .toString('latin1')
    .replace(/[^\x20-\x7e]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return s.length > 80 ? `${s.slice(0, 80)}…` : s;
}

/** RDB_CORRUPT naming the byte offset and, when known, the key being read. */
export function corrupt(message: string, at: Position): FerryError {
  const key = at.key ? ` while reading key "${showKey(at.key)}"` : '';
  return new FerryError('RDB_CORRUPT', `RDB corrupt at byte ${at.offset}${key}: ${message}`, {
    details: { offset: at.offset, ...(at.key ? { key: at.key.toString('latin1') } : {}) },
  });
}

export function unsupported(message: string, at: Position): FerryError {
  const key = at.key ? ` (key "${showKey(at.key)}")` : '';
  return new FerryError('RDB_UNSUPPORTED', `RDB not supported at byte ${at.offset}${key}: ${message}`, {
    details: { offset: at.offset },
  });
}
