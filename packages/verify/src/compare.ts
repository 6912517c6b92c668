import type { RespValue } from '@ferry/resp';

/** What reads a key does on one side: one command, routed to the node that holds the key. */
export type Read = (db: number, key: Buffer, argv: Array<string | number | Buffer>) => Promise<RespValue>;

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

const LENGTH: Record<string, string> = {
  string: 'STRLEN',
  list: 'LLEN',
  set: 'SCARD',
  zset: 'ZCARD',
  hash: 'HLEN',
  stream: 'XLEN',
};

/** Elements read per command when values are compared (bounded memory for big keys). */
export const CHUNK = 512;

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
  mode: VerifyMode;
  ttlToleranceMs: number;
}

/**
 * Compares one key on both sides; undefined when they agree (or when the key is gone on both: it
 * expired or was deleted meanwhile). Values are compared element by element in chunks of CHUNK,
 * so a 10 M-field hash is never read whole.
 */
export async function compareKey(c: CompareContext, k: KeyPair): Promise<Difference | undefined> {
  const diff = (kind: DiffKind, detail: string): Difference => ({ kind, ...k, detail });
  const [st, tt] = await Promise.all([
    c.source(k.db, k.key, ['TYPE', k.key]),
    c.target(k.targetDb, k.targetKey, ['TYPE', k.targetKey]),
  ]);
  const sType = str(st);
  const tType = str(tt);
  if (sType === 'none' && tType === 'none') return undefined;
  if (sType === 'none') return diff('extra', `the target has a ${tType} the source does not`);
  if (tType === 'none') return diff('missing', `the source has a ${sType} the target does not`);
  if (sType !== tType) return diff('type', `a ${sType} on the source, a ${tType} on the target`);
  if (c.mode === 'outline') return undefined;
  const cmd = LENGTH[sType];
  if (cmd) {
    const [sl, tl] = await Promise.all([
      c.source(k.db, k.key, [cmd, k.key]),
      c.target(k.targetDb, k.targetKey, [cmd, k.targetKey]),
    ]);
    if (Number(sl) !== Number(tl))
      return diff('length', `${cmd} ${Number(sl)} on the source, ${Number(tl)} on the target`);
  }
  const [sp, tp] = await Promise.all([
    c.source(k.db, k.key, ['PTTL', k.key]),
    c.target(k.targetDb, k.targetKey, ['PTTL', k.targetKey]),
  ]);
  const sTtl = Number(sp);
  const tTtl = Number(tp);
  if (sTtl === -2 || tTtl === -2) return undefined; // expired while being read: the next round sees it
  if (sTtl < 0 !== tTtl < 0)
    return diff(
      'ttl',
      sTtl < 0
        ? `no expiry on the source, ${tTtl} ms left on the target`
        : `${sTtl} ms left on the source, no expiry on the target`,
    );
  if (sTtl >= 0 && Math.abs(sTtl - tTtl) > c.ttlToleranceMs)
    return diff('ttl', `${sTtl} ms left on the source, ${tTtl} ms on the target`);
  if (c.mode === 'length') return undefined;
  const detail = await compareValue(c, k, sType);
  return detail === undefined ? undefined : diff('value', detail);
}

function hexShort(b: Buffer): string {
  const t = b.toString('latin1');
  return JSON.stringify(t.length > 40 ? `${t.slice(0, 40)}…` : t);
}

/** Element by element; the first difference found, described. */
async function compareValue(c: CompareContext, k: KeyPair, type: string): Promise<string | undefined> {
  const src = (argv: Array<string | number | Buffer>): Promise<RespValue> => c.source(k.db, k.key, argv);
  const tgt = (argv: Array<string | number | Buffer>): Promise<RespValue> =>
    c.target(k.targetDb, k.targetKey, argv);
  switch (type) {
    case 'string': {
      const len = Number(await src(['STRLEN', k.key]));
      for (let at = 0; at < Math.max(1, len); at += 1 << 20) {
        const end = at + (1 << 20) - 1;
        const [a, b] = await Promise.all([
          src(['GETRANGE', k.key, at, end]),
          tgt(['GETRANGE', k.targetKey, at, end]),
        ]);
        if (!buf(a).equals(buf(b))) return `the strings differ within bytes ${at}–${Math.min(end, len - 1)}`;
      }
      return undefined;
    }
    case 'list': {
      const len = Number(await src(['LLEN', k.key]));
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
