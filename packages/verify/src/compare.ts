import { LENGTH_COMMAND } from '@ferry/core';
import type { RespValue } from '@ferry/resp';

/** What reads a key does on one side: one command, routed to the node that holds the key. */
export type Read = (db: number, key: Buffer, argv: Array<string | number | Buffer>) => Promise<RespValue>;

/** One read of a stage: a command on the node holding `key` in `db`. */
export interface ReadItem {
  db: number;
  key: Buffer;
  argv: Array<string | number | Buffer>;
}

/** Many reads in one go, replies in order; rejects as a `Read` would on the first that fails. */
export type ReadMany = (items: readonly ReadItem[]) => Promise<RespValue[]>;

/** `items` read through `many` when the side has it, else one `read` each. */
function readAll(read: Read, many: ReadMany | undefined, items: ReadItem[]): Promise<RespValue[]> {
  if (items.length === 0) return Promise.resolve([]);
  return many ? many(items) : Promise.all(items.map((i) => read(i.db, i.key, i.argv)));
}

export type VerifyMode = 'outline' | 'length' | 'full';

export type DiffKind = 'missing' | 'extra' | 'type' | 'length' | 'value' | 'ttl';

/** One key that differs: where it is on each side and what differs. */
export interface Difference {
  kind: DiffKind;
  db: number;
  key: Buffer;
  targetDb: number;
  targetKey: Buffer;
  detail: string;
}

/** Elements read per command when values are compared (bounded memory for big keys). */
export const CHUNK = 512;
/** String bytes read per command. */
const STRING_WINDOW = 256 << 10;

/** A zset score as text servers may format differently: as the number it is ("inf" included). */
function score(v: Buffer): string {
  const t = v.toString('latin1').toLowerCase().replace(/^\+/, '');
  return t === 'inf' || t === 'infinity'
    ? 'Infinity'
    : t === '-inf' || t === '-infinity'
      ? '-Infinity'
      : String(Number(t));
}

const str = (v: RespValue): string => (Buffer.isBuffer(v) ? v.toString('latin1') : String(v));
const buf = (v: RespValue): Buffer => (Buffer.isBuffer(v) ? v : Buffer.from(String(v)));

/** A key on each side, as compare() needs it. */
export interface KeyPair {
  db: number;
  key: Buffer;
  targetDb: number;
  targetKey: Buffer;
}

export interface CompareContext {
  source: Read;
  target: Read;
  /** The stages of a batch (types, lengths and expiries, small strings) in one go per side. */
  sourceMany?: ReadMany;
  targetMany?: ReadMany;
  mode: VerifyMode;
  ttlToleranceMs: number;
  /**
   * Values longer than this are compared by type, length and expiry only (elements of a list, hash,
   * set or zset; bytes of a string): a check with a time budget does not read big keys whole.
   */
  valueLimit?: { elements: number; bytes: number };
  /** Told of each value left unread for `valueLimit`. */
  onValueNotRead?: () => void;
}

/** Value comparisons running at once within a batch (each holds at most two chunks). */
const VALUE_CONCURRENCY = 32;
/**
 * Strings up to this long are read for the whole batch in one stage (a batch's at most 500 keys
 * hold at most 2 MB of them a side); longer ones, and every aggregate, go through compareValue.
 */
const SMALL_STRING = 4096;

/**
 * Compares a batch of keys on both sides; the keys that differ (a key gone from both sides, expired
 * or deleted meanwhile, is no difference). Each stage is sent for the whole batch at once — types,
 * then lengths and expiries, then values — so a batch costs a few round trips, not a few per key.
 * Values are compared element by element in chunks of CHUNK: a 10 M-field hash is never read whole.
 */
export async function compareBatch(c: CompareContext, pairs: readonly KeyPair[]): Promise<Difference[]> {
  const out: Difference[] = [];
  const diff = (k: KeyPair, kind: DiffKind, detail: string): void => {
    out.push({ kind, ...k, detail });
  };
  const [sourceTypes, targetTypes] = await Promise.all([
    readAll(
      c.source,
      c.sourceMany,
      pairs.map((k) => ({ db: k.db, key: k.key, argv: ['TYPE', k.key] })),
    ),
    readAll(
      c.target,
      c.targetMany,
      pairs.map((k) => ({ db: k.targetDb, key: k.targetKey, argv: ['TYPE', k.targetKey] })),
    ),
  ]);
  const same: Array<{ k: KeyPair; type: string }> = [];
  pairs.forEach((k, i) => {
    const sType = str(sourceTypes[i] as RespValue);
    const tType = str(targetTypes[i] as RespValue);
    if (sType === 'none' && tType === 'none') return;
    if (sType === 'none') diff(k, 'extra', `the target has a ${tType} the source does not`);
    else if (tType === 'none') diff(k, 'missing', `the source has a ${sType} the target does not`);
    else if (sType !== tType) diff(k, 'type', `a ${sType} on the source, a ${tType} on the target`);
    else same.push({ k, type: sType });
  });
  if (c.mode === 'outline' || same.length === 0) return out;
  // per key: its length (0 for a type without a length command) and its expiry, on each side
  const metaOf = (side: 'source' | 'target'): Promise<number[][]> => {
    const items: ReadItem[] = [];
    for (const { k, type } of same) {
      const [db, key] = side === 'source' ? [k.db, k.key] : [k.targetDb, k.targetKey];
      const cmd = LENGTH_COMMAND[type];
      if (cmd) items.push({ db, key, argv: [cmd, key] });
      items.push({ db, key, argv: ['PTTL', key] });
    }
    const read = readAll(c[side], side === 'source' ? c.sourceMany : c.targetMany, items);
    return read.then((r) => {
      let at = 0;
      return same.map(({ type }) =>
        LENGTH_COMMAND[type] ? [Number(r[at++]), Number(r[at++])] : [0, Number(r[at++])],
      );
    });
  };
  const [sourceMeta, targetMeta] = await Promise.all([metaOf('source'), metaOf('target')]);
  const values: Array<{ k: KeyPair; type: string; len: number }> = [];
  for (const [i, { k, type }] of same.entries()) {
    const [sl, sp] = sourceMeta[i] as [number, number];
    const [tl, tp] = targetMeta[i] as [number, number];
    if (sl !== tl) {
      diff(k, 'length', `${LENGTH_COMMAND[type]} ${sl} on the source, ${tl} on the target`);
      continue;
    }
    if (sp === -2 || tp === -2) continue; // expired while being read: the next round sees it
    if (sp < 0 !== tp < 0) {
      diff(
        k,
        'ttl',
        sp < 0
          ? `no expiry on the source, ${tp} ms left on the target`
          : `${sp} ms left on the source, no expiry on the target`,
      );
      continue;
    }
    if (sp >= 0 && Math.abs(sp - tp) > c.ttlToleranceMs) {
      diff(k, 'ttl', `${sp} ms left on the source, ${tp} ms on the target`);
      continue;
    }
    const limit = c.valueLimit;
    if (limit && sl > (type === 'string' ? limit.bytes : limit.elements)) {
      c.onValueNotRead?.();
      continue;
    }
    values.push({ k, type, len: sl });
  }
  if (c.mode === 'length') return out;
  // small strings: the whole batch's in one stage
  const small = values.filter((v) => v.type === 'string' && v.len <= SMALL_STRING);
  const range = (key: Buffer): Array<string | number | Buffer> => ['GETRANGE', key, 0, SMALL_STRING - 1];
  const [sourceStrings, targetStrings] = await Promise.all([
    readAll(
      c.source,
      c.sourceMany,
      small.map(({ k }) => ({ db: k.db, key: k.key, argv: range(k.key) })),
    ),
    readAll(
      c.target,
      c.targetMany,
      small.map(({ k }) => ({ db: k.targetDb, key: k.targetKey, argv: range(k.targetKey) })),
    ),
  ]);
  small.forEach(({ k, len }, i) => {
    if (!buf(sourceStrings[i] as RespValue).equals(buf(targetStrings[i] as RespValue)))
      diff(k, 'value', `the strings differ within bytes 0–${Math.max(0, len - 1)}`);
  });
  // other values: a bounded number at once (each holds at most a chunk per side)
  const rest = values.filter((v) => v.type !== 'string' || v.len > SMALL_STRING);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < rest.length) {
      const { k, type, len } = rest[next++] as { k: KeyPair; type: string; len: number };
      const detail = await compareValue(c, k, type, len);
      if (detail !== undefined) diff(k, 'value', detail);
    }
  };
  await Promise.all(Array.from({ length: Math.min(VALUE_CONCURRENCY, rest.length) }, worker));
  return out;
}

function hexShort(b: Buffer): string {
  const t = b.toString('latin1');
  return JSON.stringify(t.length > 40 ? `${t.slice(0, 40)}…` : t);
}

/** Element by element; the first difference found, described. */
async function compareValue(
  c: CompareContext,
  k: KeyPair,
  type: string,
  len: number,
): Promise<string | undefined> {
  const src = (argv: Array<string | number | Buffer>): Promise<RespValue> => c.source(k.db, k.key, argv);
  const tgt = (argv: Array<string | number | Buffer>): Promise<RespValue> =>
    c.target(k.targetDb, k.targetKey, argv);
  switch (type) {
    case 'string': {
      for (let at = 0; at < Math.max(1, len); at += STRING_WINDOW) {
        const end = at + STRING_WINDOW - 1;
        const [a, b] = await Promise.all([
          src(['GETRANGE', k.key, at, end]),
          tgt(['GETRANGE', k.targetKey, at, end]),
        ]);
        if (!buf(a).equals(buf(b))) return `the strings differ within bytes ${at}–${Math.min(end, len - 1)}`;
      }
      return undefined;
    }
    case 'list': {
      for (let at = 0; at < len; at += CHUNK) {
        const [a, b] = (await Promise.all([
          src(['LRANGE', k.key, at, at + CHUNK - 1]),
          tgt(['LRANGE', k.targetKey, at, at + CHUNK - 1]),
        ])) as [RespValue[], RespValue[]];
        for (let i = 0; i < Math.max(a.length, b.length); i++) {
          const x = a[i];
          const y = b[i];
          if (x === undefined || y === undefined || !buf(x).equals(buf(y)))
            return `element ${at + i}: ${x === undefined ? 'absent' : hexShort(buf(x))} on the source, ${y === undefined ? 'absent' : hexShort(buf(y))} on the target`;
        }
      }
      return undefined;
    }
    case 'hash':
    case 'set':
    case 'zset': {
      if (len <= CHUNK) {
        // small: read whole on both sides (one command each) and compare as sorted pairs
        const whole: Array<string | number | Buffer> =
          type === 'hash' ? ['HGETALL'] : type === 'set' ? ['SMEMBERS'] : ['ZRANGE'];
        const args = (key: Buffer): Array<string | number | Buffer> =>
          type === 'zset' ? [...whole, key, 0, -1, 'WITHSCORES'] : [...whole, key];
        const [a, b] = (await Promise.all([src(args(k.key)), tgt(args(k.targetKey))])) as [
          RespValue[],
          RespValue[],
        ];
        const canon = (r: RespValue[]): string[] => {
          const items: string[] = [];
          if (type === 'set') for (const m of r) items.push(buf(m).toString('hex'));
          else
            for (let i = 0; i + 1 < r.length; i += 2) {
              // a score as a number: servers format doubles differently ("0.1" or "0.10000000000000001")
              const v = buf(r[i + 1] as RespValue);
              items.push(
                `${buf(r[i] as RespValue).toString('hex')}=${type === 'zset' ? score(v) : v.toString('hex')}`,
              );
            }
          return items.sort();
        };
        const x = canon(a);
        const y = canon(b);
        for (let i = 0; i < Math.max(x.length, y.length); i++) {
          if (x[i] !== y[i]) {
            const name = (h: string | undefined): string =>
              h === undefined ? 'absent' : hexShort(Buffer.from(h.split('=')[0] as string, 'hex'));
            const mine = new Set(x);
            const first = x.find((e) => !y.includes(e)) ?? y.find((e) => !mine.has(e));
            return `${type === 'hash' ? 'field' : 'member'} ${name(first)} differs`;
          }
        }
        return undefined;
      }
      // the lengths are equal (checked before): every source element present and equal on the
      // target proves the two equal, reading the source in SCAN chunks
      const scan = type === 'hash' ? 'HSCAN' : type === 'set' ? 'SSCAN' : 'ZSCAN';
      let cursor = '0';
      do {
        const [next, items] = (await src([scan, k.key, cursor, 'COUNT', CHUNK])) as [RespValue, RespValue[]];
        cursor = str(next);
        if (type === 'set') {
          const members = items.map(buf);
          const present = (await Promise.all(
            members.map((m) => tgt(['SISMEMBER', k.targetKey, m])),
          )) as number[];
          const absent = members.findIndex((_, i) => Number(present[i]) !== 1);
          if (absent >= 0) return `member ${hexShort(members[absent] as Buffer)} is not in the target's set`;
        } else {
          const fields: Buffer[] = [];
          const values: Buffer[] = [];
          for (let i = 0; i + 1 < items.length; i += 2) {
            fields.push(buf(items[i] as RespValue));
            values.push(buf(items[i + 1] as RespValue));
          }
          if (fields.length === 0) continue;
          const theirs =
            type === 'hash'
              ? ((await tgt(['HMGET', k.targetKey, ...fields])) as RespValue[])
              : ((await Promise.all(fields.map((f) => tgt(['ZSCORE', k.targetKey, f])))) as RespValue[]);
          for (let i = 0; i < fields.length; i++) {
            const t = theirs[i];
            const mine = values[i] as Buffer;
            const same =
              t !== null &&
              t !== undefined &&
              (type === 'hash'
                ? buf(t).equals(mine)
                : Number(str(t)) === Number(mine.toString()) || str(t) === mine.toString());
            if (!same)
              return `${type === 'hash' ? 'field' : 'member'} ${hexShort(fields[i] as Buffer)}: ${hexShort(mine)} on the source, ${t === null || t === undefined ? 'absent' : hexShort(buf(t))} on the target`;
          }
        }
      } while (cursor !== '0');
      return undefined;
    }
    case 'stream': {
      let from = '-';
      for (;;) {
        const [a, b] = (await Promise.all([
          src(['XRANGE', k.key, from, '+', 'COUNT', CHUNK]),
          tgt(['XRANGE', k.targetKey, from, '+', 'COUNT', CHUNK]),
        ])) as [RespValue[][], RespValue[][]];
        for (let i = 0; i < Math.max(a.length, b.length); i++) {
          const x = a[i];
          const y = b[i];
          const flat = (e: RespValue[] | undefined): string =>
            e
              ? `${str(e[0] as RespValue)} ${(e[1] as RespValue[]).map((f) => buf(f).toString('hex')).join(',')}`
              : 'absent';
          if (flat(x) !== flat(y))
            return `entry ${x ? str(x[0] as RespValue) : str((y as RespValue[])[0] as RespValue)} differs`;
        }
        if (a.length < CHUNK) break;
        from = `(${str((a[a.length - 1] as RespValue[])[0] as RespValue)}`;
      }
      const groups = async (read: typeof src, key: Buffer): Promise<string> => {
        const list = (await read(['XINFO', 'GROUPS', key])) as RespValue[][];
        return list
          .map((g) => {
            const m = new Map<string, string>();
            for (let i = 0; i + 1 < g.length; i += 2)
              m.set(str(g[i] as RespValue), str(g[i + 1] as RespValue));
            return `${m.get('name')}:${m.get('last-delivered-id')}:${m.get('pending')}`;
          })
          .sort()
          .join(' ');
      };
      const [ga, gb] = await Promise.all([groups(src, k.key), groups(tgt, k.targetKey)]);
      if (ga !== gb)
        return `consumer groups differ (${ga || 'none'} on the source, ${gb || 'none'} on the target)`;
      return undefined;
    }
    default:
      return undefined; // module types: outline and length only
  }
}
