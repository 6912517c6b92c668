import type { Redis } from 'ioredis';
import type { NodeHandle } from './deployment.js';

/** One side of a key comparison: the node, its connection for the key's db, and the key. */
export interface Side {
  node: NodeHandle;
  conn: Redis;
  key: Buffer;
}

const CHUNK = 500;
const BIG_STRING = 4 << 20;

function show(b: Buffer | string | null | undefined, max = 60): string {
  if (b === null || b === undefined) return '(nil)';
  const s = Buffer.isBuffer(b) ? b.toString('latin1') : b;
  const printable = s.replace(/[^\x20-\x7e]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return printable.length > max
    ? `${printable.slice(0, max)}…(${s.length} bytes)`
    : JSON.stringify(printable);
}

function equalBuffers(a: Buffer | null | undefined, b: Buffer | null | undefined): boolean {
  if (!a || !b) return a === b;
  return a.equals(b);
}

/** Parses a Redis score ("inf", "-inf", "+inf", "1.5e300"). */
function score(s: Buffer | string | null | undefined): number | undefined {
  if (s === null || s === undefined) return undefined;
  const t = s.toString().toLowerCase();
  if (t === 'inf' || t === '+inf') return Number.POSITIVE_INFINITY;
  if (t === '-inf') return Number.NEGATIVE_INFINITY;
  return Number(t);
}

async function compareString(a: Side, b: Side): Promise<string | undefined> {
  const [la, lb] = await Promise.all([a.conn.strlen(a.key), b.conn.strlen(b.key)]);
  if (la !== lb) return `string length ${la} ≠ ${lb}`;
  if (la <= BIG_STRING) {
    const [va, vb] = await Promise.all([a.conn.getBuffer(a.key), b.conn.getBuffer(b.key)]);
    return equalBuffers(va, vb) ? undefined : `string ${show(va)} ≠ ${show(vb)}`;
  }
  for (let off = 0; off < la; off += 1 << 20) {
    const end = Math.min(la, off + (1 << 20)) - 1;
    const [va, vb] = await Promise.all([
      a.conn.getrangeBuffer(a.key, off, end),
      b.conn.getrangeBuffer(b.key, off, end),
    ]);
    if (!va.equals(vb)) return `string differs within bytes ${off}-${end}`;
  }
  return undefined;
}

async function compareList(a: Side, b: Side): Promise<string | undefined> {
  const [la, lb] = await Promise.all([a.conn.llen(a.key), b.conn.llen(b.key)]);
  if (la !== lb) return `list length ${la} ≠ ${lb}`;
  for (let i = 0; i < la; i += CHUNK) {
    const [va, vb] = await Promise.all([
      a.conn.lrangeBuffer(a.key, i, i + CHUNK - 1),
      b.conn.lrangeBuffer(b.key, i, i + CHUNK - 1),
    ]);
    for (let j = 0; j < Math.max(va.length, vb.length); j++) {
      if (!equalBuffers(va[j], vb[j])) return `list element ${i + j}: ${show(va[j])} ≠ ${show(vb[j])}`;
    }
  }
  return undefined;
}

/**
 * Sets, hashes and zsets: equal cardinality plus every source element found, equal, on the target
 * means equal — read in SCAN chunks, so no side is held whole and SCAN's repeats do no harm.
 */
async function compareSet(a: Side, b: Side): Promise<string | undefined> {
  const [ca, cb] = await Promise.all([a.conn.scard(a.key), b.conn.scard(b.key)]);
  if (ca !== cb) return `set cardinality ${ca} ≠ ${cb}`;
  let cursor = '0';
  do {
    const [next, members] = await a.conn.sscanBuffer(a.key, cursor, 'COUNT', CHUNK);
    cursor = String(next);
    if (members.length === 0) continue;
    let flags: number[];
    if (b.node.atLeast('6.2.0')) flags = (await b.conn.call('SMISMEMBER', b.key, ...members)) as number[];
    else {
      const p = b.conn.pipeline();
      for (const m of members) p.sismember(b.key, m);
      flags = ((await p.exec()) ?? []).map(([, v]) => v as number);
    }
    const missing = members.findIndex((_, i) => flags[i] !== 1);
    if (missing >= 0) return `set member ${show(members[missing])} missing on the target`;
  } while (cursor !== '0');
  return undefined;
}

async function compareHash(a: Side, b: Side): Promise<string | undefined> {
  const [ca, cb] = await Promise.all([a.conn.hlen(a.key), b.conn.hlen(b.key)]);
  if (ca !== cb) return `hash length ${ca} ≠ ${cb}`;
  let cursor = '0';
  do {
    const [next, flat] = await a.conn.hscanBuffer(a.key, cursor, 'COUNT', CHUNK);
    cursor = String(next);
    const fields = flat.filter((_, i) => i % 2 === 0);
    if (fields.length === 0) continue;
    const values = await b.conn.hmgetBuffer(b.key, ...fields);
    for (let i = 0; i < fields.length; i++) {
      if (!equalBuffers(flat[2 * i + 1], values[i])) {
        return `hash field ${show(fields[i])}: ${show(flat[2 * i + 1])} ≠ ${show(values[i])}`;
      }
    }
  } while (cursor !== '0');
  return undefined;
}

async function compareZset(a: Side, b: Side): Promise<string | undefined> {
  const [ca, cb] = await Promise.all([a.conn.zcard(a.key), b.conn.zcard(b.key)]);
  if (ca !== cb) return `zset cardinality ${ca} ≠ ${cb}`;
  let cursor = '0';
  do {
    const [next, flat] = await a.conn.zscanBuffer(a.key, cursor, 'COUNT', CHUNK);
    cursor = String(next);
    const members = flat.filter((_, i) => i % 2 === 0);
    if (members.length === 0) continue;
    let scores: Array<Buffer | string | null>;
    if (b.node.atLeast('6.2.0'))
      scores = (await b.conn.callBuffer('ZMSCORE', b.key, ...members)) as Array<Buffer | null>;
    else {
      const p = b.conn.pipeline();
      for (const m of members) p.zscore(b.key, m);
      scores = ((await p.exec()) ?? []).map(([, v]) => v as string | null);
    }
    for (let i = 0; i < members.length; i++) {
      const sa = score(flat[2 * i + 1]);
      const sb = score(scores[i]);
      if (sb === undefined) return `zset member ${show(members[i])} missing on the target`;
      if (sa !== sb) return `zset member ${show(members[i])}: score ${sa} ≠ ${sb}`;
    }
  } while (cursor !== '0');
  return undefined;
}

type Reply = Buffer | number | null | Reply[];

/** A flat [name, value, name, value…] reply as a map keyed by name. */
function pairs(reply: Reply): Map<string, Reply> {
  const out = new Map<string, Reply>();
  if (!Array.isArray(reply)) return out;
  for (let i = 0; i + 1 < reply.length; i += 2) out.set(String(reply[i]), reply[i + 1] ?? null);
  return out;
}

function same(x: Reply | undefined, y: Reply | undefined): boolean {
  return (
    JSON.stringify(x, (_, v) => (v?.type === 'Buffer' ? Buffer.from(v.data).toString('latin1') : v)) ===
    JSON.stringify(y, (_, v) => (v?.type === 'Buffer' ? Buffer.from(v.data).toString('latin1') : v))
  );
}

/** Fields of XINFO STREAM / GROUPS / CONSUMERS that describe state (not timings) and are compared when both sides report them. */
const STREAM_FIELDS = [
  'length',
  'last-generated-id',
  'max-deleted-entry-id',
  'entries-added',
  'recorded-first-entry-id',
];
const GROUP_FIELDS = ['consumers', 'pending', 'last-delivered-id', 'entries-read'];

function compareFields(
  what: string,
  fa: Map<string, Reply>,
  fb: Map<string, Reply>,
  fields: string[],
): string | undefined {
  for (const f of fields) {
    if (!fa.has(f) || !fb.has(f)) continue;
    if (!same(fa.get(f), fb.get(f))) return `${what} ${f}: ${String(fa.get(f))} ≠ ${String(fb.get(f))}`;
  }
  return undefined;
}

function nextId(id: Buffer): string {
  const [ms, seq] = id.toString().split('-');
  return `${ms}-${BigInt(seq ?? '0') + 1n}`;
}

async function compareStream(a: Side, b: Side): Promise<string | undefined> {
  const [ia, ib] = await Promise.all([
    a.conn.callBuffer('XINFO', 'STREAM', a.key) as Promise<Reply>,
    b.conn.callBuffer('XINFO', 'STREAM', b.key) as Promise<Reply>,
  ]);
  const meta = compareFields('stream', pairs(ia), pairs(ib), STREAM_FIELDS);
  if (meta) return meta;
  // entries, in id order, chunk by chunk
  let start = '-';
  for (;;) {
    const [ea, eb] = (await Promise.all([
      a.conn.callBuffer('XRANGE', a.key, start, '+', 'COUNT', CHUNK),
      b.conn.callBuffer('XRANGE', b.key, start, '+', 'COUNT', CHUNK),
    ])) as [Array<[Buffer, Buffer[]]>, Array<[Buffer, Buffer[]]>];
    for (let i = 0; i < Math.max(ea.length, eb.length); i++) {
      if (!same(ea[i] as Reply, eb[i] as Reply)) {
        return `stream entry ${show(ea[i]?.[0])}: ${show(ea[i]?.[1]?.join(' '))} ≠ ${show(eb[i]?.[0])} ${show(eb[i]?.[1]?.join(' '))}`;
      }
    }
    const last = ea[ea.length - 1];
    if (ea.length < CHUNK || !last) break;
    start = nextId(last[0]);
  }
  // consumer groups, their consumers and pending entries
  const [ga, gb] = (await Promise.all([
    a.conn.callBuffer('XINFO', 'GROUPS', a.key),
    b.conn.callBuffer('XINFO', 'GROUPS', b.key),
  ])) as [Reply[], Reply[]];
  const groupsA = new Map(ga.map((g) => [String(pairs(g).get('name')), pairs(g)]));
  const groupsB = new Map(gb.map((g) => [String(pairs(g).get('name')), pairs(g)]));
  for (const name of new Set([...groupsA.keys(), ...groupsB.keys()])) {
    const x = groupsA.get(name);
    const y = groupsB.get(name);
    if (!x || !y) return `stream group ${show(name)} ${x ? 'missing on the target' : 'only on the target'}`;
    const diff = compareFields(`stream group ${show(name)}`, x, y, GROUP_FIELDS);
    if (diff) return diff;
    const [ca, cb] = (await Promise.all([
      a.conn.callBuffer('XINFO', 'CONSUMERS', a.key, name),
      b.conn.callBuffer('XINFO', 'CONSUMERS', b.key, name),
    ])) as [Reply[], Reply[]];
    const consumers = (r: Reply[]): string =>
      r
        .map((c) => `${String(pairs(c).get('name'))}:${String(pairs(c).get('pending'))}`)
        .sort()
        .join(',');
    if (consumers(ca) !== consumers(cb))
      return `stream group ${show(name)} consumers ${consumers(ca)} ≠ ${consumers(cb)}`;
    let from = '-';
    for (;;) {
      const [pa, pb] = (await Promise.all([
        a.conn.callBuffer('XPENDING', a.key, name, from, '+', CHUNK),
        b.conn.callBuffer('XPENDING', b.key, name, from, '+', CHUNK),
      ])) as [Reply[][], Reply[][]];
      // [id, consumer, idle ms, deliveries]: idle time differs by nature, the rest must not
      const strip = (e: Reply[] | undefined): Reply[] | undefined =>
        e && [e[0] ?? null, e[1] ?? null, e[3] ?? null];
      for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
        if (!same(strip(pa[i]), strip(pb[i]))) {
          return `stream group ${show(name)} pending entry ${show(pa[i]?.[0] as Buffer)} differs`;
        }
      }
      const last = pa[pa.length - 1];
      if (pa.length < CHUNK || !last) break;
      from = nextId(last[0] as Buffer);
    }
  }
  return undefined;
}

async function compareDump(a: Side, b: Side): Promise<string | undefined> {
  const [da, db] = await Promise.all([a.conn.dumpBuffer(a.key), b.conn.dumpBuffer(b.key)]);
  // The last 10 bytes are the RDB version and CRC64; servers of different versions may differ there.
  const body = (d: Buffer | null): Buffer | null => (d ? d.subarray(0, Math.max(0, d.length - 10)) : null);
  return equalBuffers(body(da), body(db)) ? undefined : 'serialized values differ';
}

/** Compares the values of one key of `type` on both sides; a description of the first difference, or undefined. */
export function compareValues(type: string, a: Side, b: Side): Promise<string | undefined> {
  switch (type) {
    case 'string':
      return compareString(a, b);
    case 'list':
      return compareList(a, b);
    case 'set':
      return compareSet(a, b);
    case 'hash':
      return compareHash(a, b);
    case 'zset':
      return compareZset(a, b);
    case 'stream':
      return compareStream(a, b);
    default:
      return compareDump(a, b);
  }
}

export { show as showBytes };
