import type { KeyEntry, ValueChunk } from '@ferry/rdb';

/**
 * Keys read from a backup file, held so that the verifier can compare them with the target as it
 * compares two servers: each answers the read commands the verifier sends (TYPE, the length
 * command, PTTL, GETRANGE, LRANGE, HGETALL, SMEMBERS, ZRANGE … WITHSCORES, H/S/ZSCAN, XRANGE,
 * XINFO GROUPS) from the value as the file holds it. Only a sample is held, each value up to a
 * limit: past it only its type, length and expiry are kept, and the verifier compares only those.
 */

type Reply = Buffer | number | null | Reply[];

interface Held {
  type: string;
  expireAtMs: number | undefined;
  length: number;
  /** undefined: longer than the limit, not kept */
  value?:
    | { kind: 'string'; data: Buffer }
    | { kind: 'list' | 'set'; items: Buffer[] }
    | { kind: 'zset'; items: Array<[Buffer, number]> }
    | { kind: 'hash'; items: Array<[Buffer, Buffer]> }
    | { kind: 'stream'; entries: Array<{ id: string; fields: Buffer[] }>; groups: Reply[] };
}

const b = (s: string): Buffer => Buffer.from(s);

/** A score as Redis writes it in a reply ("inf", "-inf", else the number). */
const scoreText = (n: number): Buffer => b(n === Infinity ? 'inf' : n === -Infinity ? '-inf' : String(n));

function idParts(id: string): [bigint, bigint] {
  const [ms = '0', seq = '0'] = id.split('-');
  return [BigInt(ms), BigInt(seq)];
}

function idAfter(a: string, b2: string): boolean {
  const [am, as] = idParts(a);
  const [bm, bs] = idParts(b2);
  return am > bm || (am === bm && as > bs);
}

/** Redis's LRANGE/GETRANGE index rules: negative from the end, clamped. */
function range(len: number, start: number, stop: number): [number, number] {
  let s = start < 0 ? len + start : start;
  let e = stop < 0 ? len + stop : stop;
  s = Math.max(0, s);
  e = Math.min(len - 1, e);
  return [s, e];
}

/** Reads a key's value into what the verifier asks of it, within `limit`. */
export async function holdValue(
  e: KeyEntry,
  limit: { elements: number; bytes: number },
): Promise<Held | undefined> {
  let type: string = e.type;
  let length = 0;
  let over = false;
  const strings: Buffer[] = [];
  const list: Buffer[] = [];
  const zset: Array<[Buffer, number]> = [];
  const hash: Array<[Buffer, Buffer]> = [];
  const entries: Array<{ id: string; fields: Buffer[] }> = [];
  const groups = new Map<string, { lastId: string; pending: number }>();
  let streamLength: number | undefined;
  const keep = (n: number, bytes: number): boolean => {
    if (over) return false;
    if (type === 'string' ? bytes > limit.bytes : n > limit.elements) over = true;
    return !over;
  };
  const take = (c: ValueChunk): void => {
    switch (c.type) {
      case 'string':
        length += c.length;
        if (keep(0, length)) strings.push(Buffer.from(c.data));
        break;
      case 'list':
      case 'set':
        length += c.items.length;
        if (keep(length, 0)) list.push(...c.items.map((x) => Buffer.from(x)));
        break;
      case 'zset':
        length += c.items.length;
        if (keep(length, 0)) for (const [m, s] of c.items) zset.push([Buffer.from(m), s]);
        break;
      case 'hash':
        length += c.items.length;
        if (keep(length, 0)) for (const [f, v] of c.items) hash.push([Buffer.from(f), Buffer.from(v)]);
        break;
      case 'stream-entries':
        length += c.entries.length;
        if (keep(length, 0))
          for (const x of c.entries) entries.push({ id: x.id, fields: x.fields.map((f) => Buffer.from(f)) });
        break;
      case 'stream-meta':
        streamLength = c.length;
        break;
      case 'stream-group':
        groups.set(c.group.name.toString('latin1'), { lastId: c.group.lastId, pending: 0 });
        break;
      case 'stream-pel': {
        const g = groups.get(c.group.toString('latin1'));
        if (g) g.pending += c.pending.length;
        break;
      }
      case 'module':
        type = c.name;
        break;
      case 'array':
        length += c.items.length; // compared by type and length (no command reads it before 8.8)
        break;
      default:
        break;
    }
  };
  const now = e.decoded();
  if (now) for (const c of now) take(c);
  else for await (const c of e.chunks()) take(c);
  if (e.empty) return undefined;
  if (type === 'stream') length = streamLength ?? length;
  const held: Held = { type, expireAtMs: e.expireAtMs, length };
  if (over) return held;
  switch (type) {
    case 'string':
      held.value = { kind: 'string', data: Buffer.concat(strings) };
      break;
    case 'list':
    case 'set':
      held.value = { kind: type, items: list };
      break;
    case 'zset':
      // ZRANGE's order: by score, then by member bytes
      zset.sort((x, y) => (x[1] < y[1] ? -1 : x[1] > y[1] ? 1 : Buffer.compare(x[0], y[0])));
      held.value = { kind: 'zset', items: zset };
      break;
    case 'hash':
      held.value = { kind: 'hash', items: hash };
      break;
    case 'stream':
      held.value = {
        kind: 'stream',
        entries,
        groups: [...groups].map(([name, g]) => [
          b('name'),
          b(name),
          b('last-delivered-id'),
          b(g.lastId),
          b('pending'),
          g.pending,
        ]),
      };
      break;
    default:
      break; // module values: type and expiry only
  }
  return held;
}

const LENGTH = new Set(['STRLEN', 'LLEN', 'SCARD', 'ZCARD', 'HLEN', 'XLEN']);

/** The sampled keys of a file, by db and key, answering the verifier's reads. */
export class FileKeys {
  private readonly keys = new Map<string, Held>();

  private id(db: number, key: Buffer): string {
    return `${db}\u0000${key.toString('latin1')}`;
  }

  set(db: number, key: Buffer, held: Held): void {
    this.keys.set(this.id(db, key), held);
  }

  delete(db: number, key: Buffer): void {
    this.keys.delete(this.id(db, key));
  }

  /** One read command on one key, answered as a server holding the file's data would. */
  read = async (db: number, key: Buffer, argv: Array<string | number | Buffer>): Promise<Reply> => {
    const name = String(argv[0]).toUpperCase();
    let h = this.keys.get(this.id(db, key));
    if (h?.expireAtMs !== undefined && h.expireAtMs <= Date.now()) h = undefined;
    if (name === 'TYPE') return b(h ? h.type : 'none');
    if (name === 'PTTL')
      return h ? (h.expireAtMs === undefined ? -1 : Math.max(0, h.expireAtMs - Date.now())) : -2;
    if (LENGTH.has(name)) return h ? h.length : 0;
    const v = h?.value;
    if (!v) throw new Error(`${name} of a value the check did not keep`);
    const n = (i: number): number => Number(String(argv[i]));
    switch (name) {
      case 'GETRANGE': {
        if (v.kind !== 'string') break;
        const [s, e] = range(v.data.length, n(2), n(3));
        return s > e ? b('') : v.data.subarray(s, e + 1);
      }
      case 'LRANGE': {
        if (v.kind !== 'list') break;
        const [s, e] = range(v.items.length, n(2), n(3));
        return v.items.slice(s, e + 1);
      }
      case 'SMEMBERS':
        if (v.kind === 'set') return v.items;
        break;
      case 'HGETALL':
        if (v.kind === 'hash') return v.items.flat();
        break;
      case 'ZRANGE':
        if (v.kind === 'zset') return v.items.flatMap(([m, s]) => [m, scoreText(s)]);
        break;
      case 'HSCAN':
      case 'SSCAN':
      case 'ZSCAN': {
        const from = n(2);
        const count = Math.max(1, n(4) || 10);
        const all: Reply[] =
          v.kind === 'set'
            ? v.items
            : v.kind === 'hash'
              ? v.items.map(([f, x]) => [f, x])
              : v.kind === 'zset'
                ? v.items.map(([m, s]) => [m, scoreText(s)])
                : [];
        const page = all.slice(from, from + count);
        const next = from + count >= all.length ? 0 : from + count;
        return [b(String(next)), v.kind === 'set' ? page : (page as Reply[][]).flat()];
      }
      case 'XRANGE': {
        if (v.kind !== 'stream') break;
        const start = String(argv[2]);
        const count = n(5) || v.entries.length;
        const after =
          start === '-'
            ? v.entries
            : start.startsWith('(')
              ? v.entries.filter((x) => idAfter(x.id, start.slice(1)))
              : v.entries.filter((x) => !idAfter(start, x.id));
        return after.slice(0, count).map((x) => [b(x.id), x.fields]);
      }
      case 'XINFO':
        if (v.kind === 'stream') return v.groups;
        break;
      default:
        break;
    }
    throw new Error(`${name} is not answered from a file (${h?.type ?? 'none'} value)`);
  };
}
