import type { ReplyError } from './errors.js';

/** A RESP3 map (`%`): entries in wire order, keys and values as decoded. */
export class RespMap {
  constructor(readonly entries: Array<[RespValue, RespValue]>) {}
}

/** A RESP3 set (`~`). */
export class RespSet {
  constructor(readonly items: RespValue[]) {}
}

/** A RESP3 out-of-band push (`>`), e.g. pub/sub messages or client-side caching invalidations. */
export class RespPush {
  constructor(readonly items: RespValue[]) {}
}

/** A RESP3 verbatim string (`=`): format ("txt", "mkd") and text. */
export class RespVerbatim {
  constructor(
    readonly format: string,
    readonly text: Buffer,
  ) {}
}

/**
 * A decoded reply. Simple strings are `string`, bulk strings `Buffer` (a view of the received bytes
 * when they arrived in one chunk), integers `number` (`bigint` past 2^53), RESP3 doubles `number`,
 * big numbers `bigint`, booleans `boolean`, nulls `null`, errors `ReplyError` (not thrown by the decoder).
 */
export type RespValue =
  | string
  | Buffer
  | number
  | bigint
  | boolean
  | null
  | ReplyError
  | RespValue[]
  | RespMap
  | RespSet
  | RespPush
  | RespVerbatim;

/** A command argument: bytes, or text/numbers sent as their decimal/UTF-8 form. */
export type Arg = Buffer | string | number | bigint;
