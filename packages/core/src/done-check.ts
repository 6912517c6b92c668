import { setTimeout as sleep } from 'node:timers/promises';
import { FerryError } from '@ferry/errors';
import { ReplyError, type RespConnection, type RespValue } from '@ferry/resp';
import { connectEndpoint, type Endpoint } from './endpoint.js';
import { formatBytes } from './format.js';
import type { KeyMapper } from './keys.js';
import { readInRuns } from './read-runs.js';
import { keySlot } from './slot.js';
import { scanTarget } from './target/scan.js';
import type { TargetWriter } from './target/writer.js';
import type { VerificationReport, Verifier } from './verification.js';

/** One shard as the check sees it: the node it read and the offset applied on the target. */
export interface DoneShard {
  name: string;
  endpoint: Endpoint;
  appliedOffset: number;
}

export interface DoneCheckInput {
  shards: DoneShard[];
  writer: TargetWriter;
  mapper: KeyMapper;
  /** Target dbs the task writes to. */
  targetDbs: number[];
  /** Target dbs the task has written (others, if the source has no keys for them, are not compared). */
  wroteDbs?: Set<number>;
  /** The target held nothing else when the task started: counts must be equal, not just covered. */
  targetOwned: boolean;
  /** The task's reserved prefix (the verifier leaves keys under it alone). */
  reservedPrefix?: string;
  /** Keys of the task's own on the source (the heartbeat), per source db: not migrated. */
  sourceOwnKeys?: (db: number) => Buffer[];
  verifier?: Verifier;
  /** The source is a Redis Cluster (its shards read as one cluster side, not as separate servers). */
  sourceCluster?: boolean;
  /** Keys whose values are compared (spread over the shards and dbs by their sizes). Default 1000. */
  sample?: number;
  signal: AbortSignal;
}

/** What the check measured, and whether it proves the target has what the source has. */
export interface DoneCheckResult {
  ok: boolean;
  /** Key counts were compared while the source stood still at the applied offsets. */
  exact: boolean;
  sourceKeys: number | undefined;
  targetKeys: number | undefined;
  /** Keys that expired on either side while the counts were read (allowed as a difference). */
  expired: number;
  perDb: Array<{ db: number; source: number; target: number }>;
  sampled: number;
  sampleDifferences: number;
  /** What was checked, in one line: "200100 keys on both sides (db 0); 1000 sampled keys equal". */
  summary: string;
  /** Why it is not ok. */
  problem?: string;
}

interface SourceRead {
  offset: number;
  expired: number;
  /** Some keys have an expiry (INFO keyspace's expires=). */
  volatile: boolean;
  /** keys per source db (INFO keyspace), or per db under the filter (a SCAN). */
  dbs: Map<number, number>;
}

function infoField(text: string, name: string): number {
  const m = new RegExp(`^${name}:(\\d+)`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

const ATTEMPTS = 6;
const PAUSE_MS = 300;

/**
 * The check before "done": per mapped db, the source's key count (summed over its shards, under
 * the task's filter) against the target's, read while the source stood still at the offsets the
 * target has applied (re-read until it does, a few times); then a sample of keys compared value by
 * value (type, length, elements, TTL) through the verifier. Cheap — INFO and DBSIZE, a SCAN only
 * under a filter, and `sample` keys — but against the servers, now.
 */
export async function checkDone(input: DoneCheckInput): Promise<DoneCheckResult> {
  const { shards, writer: w, mapper, signal } = input;
  const conns: RespConnection[] = [];
  try {
    for (const s of shards) conns.push(await connectEndpoint(s.endpoint, signal, { commandMs: 30_000 }));
    const readSource = async (i: number): Promise<SourceRead> => {
      const c = conns[i] as RespConnection;
      const text = String(await c.send(['INFO', 'all']));
      const dbs = new Map<number, number>();
      for (const m of text.matchAll(/^db(\d+):keys=(\d+)/gm)) dbs.set(Number(m[1]), Number(m[2]));
      if (mapper.filter) {
        // counted key by key: the filter's keys only
        for (const db of [...dbs.keys()]) dbs.set(db, await countFiltered(c, db, mapper));
      }
      for (const [db, n] of dbs) {
        const own = input.sourceOwnKeys?.(db) ?? [];
        if (own.length === 0) continue;
        await c.send(['SELECT', db]);
        dbs.set(db, n - Number(await c.send(['EXISTS', ...own])));
      }
      return {
        offset: infoField(text, 'master_repl_offset'),
        expired: infoField(text, 'expired_keys'),
        volatile: /^db\d+:keys=\d+,expires=[1-9]/m.test(text),
        dbs,
      };
    };
    const readTarget = async (): Promise<{ dbs: Map<number, number>; expired: number }> => {
      const dbs = new Map<number, number>();
      let expired = 0;
      for (const slot of w.masterSlots()) {
        const at = w.cluster ? slot : undefined;
        expired += infoField(
          String(await w.send(0, at, ['INFO', 'stats'], { idempotent: true })),
          'expired_keys',
        );
        for (const db of input.targetDbs)
          dbs.set(db, (dbs.get(db) ?? 0) + Number(await w.send(db, at, ['DBSIZE'], { idempotent: true })));
      }
      return { dbs, expired };
    };
    const expectOnTarget = (reads: SourceRead[]): Map<number, number> => {
      const out = new Map<number, number>();
      for (const r of reads)
        for (const [db, n] of r.dbs) {
          const route = mapper.route(db);
          if (route) out.set(route.db, (out.get(route.db) ?? 0) + n);
        }
      return out;
    };

    let last: DoneCheckResult | undefined;
    let swept = false;
    let firstExpired: number | undefined;
    for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
      if (attempt > 1) await sleep(PAUSE_MS, undefined, { signal });
      const before = await Promise.all(shards.map((_, i) => readSource(i)));
      const target = await readTarget();
      const after = await Promise.all(shards.map((_, i) => readSource(i)));
      const quiet = shards.every(
        (s, i) => before[i]?.offset === s.appliedOffset && after[i]?.offset === s.appliedOffset,
      );
      const expectBefore = expectOnTarget(before);
      const expect = expectOnTarget(after);
      const stable = [...new Set([...expect.keys(), ...expectBefore.keys()])].every(
        (db) => expect.get(db) === expectBefore.get(db),
      );
      const expiredNow = after.reduce((a, r) => a + r.expired, 0) + target.expired;
      firstExpired ??= before.reduce((a, r) => a + r.expired, 0) + target.expired;
      const expired = expiredNow - firstExpired;
      // a target db the task never wrote and the source has nothing for is another client's
      const perDb = input.targetDbs
        .map((db) => ({ db, source: expect.get(db) ?? 0, target: target.dbs.get(db) ?? 0 }))
        .filter((d) => d.source > 0 || (d.target > 0 && (input.wroteDbs?.has(d.db) ?? true)));
      const sourceKeys = perDb.reduce((a, d) => a + d.source, 0);
      const targetKeys = perDb.reduce((a, d) => a + d.target, 0);
      const missing = perDb.reduce((a, d) => a + Math.max(0, d.source - d.target), 0);
      const extra = perDb.reduce((a, d) => a + Math.max(0, d.target - d.source), 0);
      const countsOk = input.targetOwned ? missing + extra <= expired : missing <= expired;
      const where = perDb.map((d) => `db ${d.db}: ${d.source} / ${d.target}`).join(', ') || 'no keys';
      const counts = input.targetOwned
        ? missing + extra === 0
          ? `${sourceKeys} keys on both sides (${perDb.map((d) => `db ${d.db}`).join(', ') || 'empty'})`
          : `${sourceKeys} keys on the source, ${targetKeys} on the target (source / target: ${where})`
        : `${sourceKeys} source keys, ${targetKeys} on the target, which held other keys when the task started (${where})`;
      last = {
        ok: countsOk && (quiet || stable),
        exact: quiet,
        sourceKeys,
        targetKeys,
        expired,
        perDb,
        sampled: 0,
        sampleDifferences: 0,
        summary: `${counts}${expired > 0 ? `, ${expired} keys expired while counting` : ''}`,
      };
      if (!countsOk) {
        const moved = quiet
          ? ''
          : ` (the source moved past the completion point — ${shards.map((s, i) => `${s.name} offset ${s.appliedOffset} → ${after[i]?.offset}`).join(', ')}: a write or its replication PING; writes made after it are not on the target)`;
        const what =
          missing > 0 && extra > 0
            ? 'the target is missing keys and holds keys the source does not'
            : missing > 0
              ? 'the target is missing keys'
              : 'the target holds keys the source does not';
        last.problem = stable
          ? `${what}: ${counts}${moved}`
          : `the source kept changing while it was counted: ${counts}${moved}`;
        // A key past its expiry is counted until a server gets round to deleting it, and each side
        // does so on its own: a SCAN over both deletes every such key it passes (lazy expiry), so
        // the next count is of live keys. Once, and only when the counts differ and keys expire.
        if (!swept && [...before, ...after].some((r) => r.volatile)) {
          swept = true;
          await sweepExpired(input, conns);
        }
        continue;
      }
      if (!quiet && !stable) {
        last.problem = `the source kept changing while it was counted (${counts})`;
        continue;
      }
      break;
    }
    const result = last as DoneCheckResult;
    if (!result.ok) return result;
    await sampleValues(input, conns, result);
    return result;
  } finally {
    for (const c of conns) c.destroy();
  }
}

/** The keys of one db of a source connection, a SCAN page at a time (the writer's `scan()` for the target). */
async function* scanDb(c: RespConnection, db: number): AsyncGenerator<Buffer[]> {
  await c.send(['SELECT', db]);
  let cursor = '0';
  do {
    const [next, keys] = (await c.send(['SCAN', cursor, 'COUNT', 1000])) as [Buffer, Buffer[]];
    cursor = String(next);
    yield keys;
  } while (cursor !== '0');
}

/** SCANs every db of both sides once: each expired key a SCAN passes is deleted (Redis's lazy expiry). */
async function sweepExpired(input: DoneCheckInput, conns: RespConnection[]): Promise<void> {
  const w = input.writer;
  for (const slot of w.masterSlots())
    for (const db of input.targetDbs) for await (const _ of scanTarget(w, db, w.cluster ? slot : undefined));
  for (const c of conns) {
    const text = String(await c.send(['INFO', 'keyspace']));
    for (const m of text.matchAll(/^db(\d+):keys=\d+,expires=([1-9])/gm))
      for await (const _ of scanDb(c, Number(m[1])));
  }
}

/** Counts the keys of one source db that pass the task's filter (SCAN). */
async function countFiltered(c: RespConnection, db: number, mapper: KeyMapper): Promise<number> {
  let n = 0;
  for await (const keys of scanDb(c, db)) for (const k of keys) if (mapper.filter?.(k, db)) n++;
  return n;
}

/** Elements and string bytes the sample's values are read up to, in all (see sampleValues). */
const VALUE_ELEMENTS = 500_000;
const VALUE_BYTES = 64 << 20;

/** What each of `keys` sampled values is read up to: the budget shared out, with a floor. */
export function valueLimit(keys: number): { elements: number; bytes: number } {
  const n = Math.max(1, keys);
  return {
    elements: Math.max(512, Math.floor(VALUE_ELEMENTS / n)),
    bytes: Math.max(64 << 10, Math.floor(VALUE_BYTES / n)),
  };
}

/**
 * Writes what the sample's comparison found into the result: the keys equal (and how many of them
 * only by type, length and TTL, being over the limit), or the first differences, which fail it.
 * `against` names the other side when it is not the source servers ("the file").
 */
export function sampleVerdict(
  result: DoneCheckResult,
  report: VerificationReport,
  keys: number,
  limit: { elements: number; bytes: number },
  against?: string,
): void {
  result.sampled = keys;
  result.sampleDifferences = report.differences;
  const unread = report.valuesNotRead ?? 0;
  const equal = `${keys} sampled keys equal${against ? ` to ${against}` : ''}`;
  if (report.differences === 0) {
    if (unread === 0) {
      result.summary += `; ${equal} (type, value, TTL)`;
      return;
    }
    const read = keys - unread;
    // (only here: the first toLocaleString of a process sets up its number formatting, ~15 ms)
    const over = `longer than the check reads (${limit.elements.toLocaleString('en')} elements, ${formatBytes(limit.bytes)})`;
    result.summary +=
      read === 0
        ? `; ${equal} by type, length and TTL (all ${over})`
        : `; ${equal} (${read} by type, value and TTL; ${unread} ${over} by type, length and TTL)`;
    return;
  }
  const shown = report.details
    .slice(0, 5)
    .map(
      (d) => `${d.kind} db ${d.db} ${JSON.stringify(d.key.slice(0, 60))}${d.detail ? ` (${d.detail})` : ''}`,
    )
    .join('; ');
  result.ok = false;
  result.problem = `${report.differences} of ${keys} sampled keys differ${against ? ` from ${against}` : ''}: ${shown}`;
  result.summary += `; ${report.differences} of ${keys} sampled keys differ`;
}

/** Compares `sample` random source keys with their target keys (through the verifier). */
async function sampleValues(
  input: DoneCheckInput,
  conns: RespConnection[],
  result: DoneCheckResult,
): Promise<void> {
  const want = input.sample ?? 1000;
  if (!input.verifier || want <= 0 || !result.sourceKeys) {
    if (!input.verifier) result.summary += '; values not sampled (no verifier in this engine)';
    return;
  }
  // keys per (shard, source db), in proportion to their sizes
  const keys: Array<{ db: number; key: Buffer; conn: number }> = [];
  const total = result.sourceKeys;
  for (let i = 0; i < conns.length; i++) {
    const c = conns[i] as RespConnection;
    const text = String(await c.send(['INFO', 'keyspace']));
    for (const m of text.matchAll(/^db(\d+):keys=(\d+)/gm)) {
      const db = Number(m[1]);
      if (!input.mapper.route(db)) continue;
      const n = Math.min(Number(m[2]), Math.ceil((want * Number(m[2])) / total));
      if (n <= 0) continue;
      await c.send(['SELECT', db]);
      const seen = new Set<string>();
      const got = (await c.sendBatch(Array.from({ length: n }, () => ['RANDOMKEY']))) as Array<
        Buffer | null | ReplyError
      >;
      const refused = got.find((k) => k instanceof ReplyError);
      if (refused) throw refused;
      for (const k of got as Array<Buffer | null>) {
        if (!k || seen.has(k.toString('latin1'))) continue;
        seen.add(k.toString('latin1'));
        if (input.mapper.filter && !input.mapper.filter(k, db)) continue;
        if (input.sourceOwnKeys?.(db).some((o) => o.equals(k))) continue;
        keys.push({ db, key: k, conn: i });
      }
    }
  }
  if (keys.length === 0) return;
  // a budget: about half a million elements and 64 MB of strings over the sample, so that a
  // sample of big keys costs what one of small keys does (big values by type, length and TTL)
  const limit = valueLimit(keys.length);
  const shards = input.shards;
  // read through the connections the check holds (the source's, the task's writer): no side
  // opened and probed again for a thousand keys, and a stage of a batch one send a connection; a
  // cluster source's keys may move between its masters, so it is read by a cluster-aware side
  const w = input.writer;
  const home = new Map(keys.map((k) => [`${k.db}\u0000${k.key.toString('latin1')}`, k.conn]));
  const homeOf = (db: number, key: Buffer): number => home.get(`${db}\u0000${key.toString('latin1')}`) ?? 0;
  const readers = conns.map(onDb);
  const report = await input.verifier({
    source: input.sourceCluster
      ? { endpoint: (shards[0] as DoneShard).endpoint, cluster: true }
      : {
          read: (db, key, argv) => (readers[homeOf(db, key)] as DbReader).one(db, argv),
          readMany: async (items) => {
            // per connection, in order; the replies put back in the items' order
            const out = new Array<RespValue>(items.length);
            const per = new Map<number, number[]>();
            items.forEach((it, i) => {
              const c = homeOf(it.db, it.key);
              const list = per.get(c) ?? [];
              list.push(i);
              per.set(c, list);
            });
            await Promise.all(
              [...per].map(async ([c, at]) => {
                const got = await (readers[c] as DbReader).many(at.map((i) => items[i] as DbItem));
                at.forEach((i, j) => {
                  out[i] = got[j] as RespValue;
                });
              }),
            );
            return out;
          },
        },
    target: {
      read: (db, key, argv) => w.send(db, w.cluster ? keySlot(key) : undefined, argv, { idempotent: true }),
      ...(w.cluster ? {} : { readMany: (items) => readInRuns(w, items) }),
    },
    mode: 'full',
    rounds: 2,
    intervalMs: 500,
    keys: keys.map((k) => ({ db: k.db, key: k.key })),
    valueLimit: limit,
    ...(input.reservedPrefix ? { reservedPrefix: input.reservedPrefix } : {}),
    ...(input.mapper.dbMap ? { dbMap: input.mapper.dbMap } : {}),
    ...(input.mapper.renamePrefix ? { renamePrefix: input.mapper.renamePrefix } : {}),
    ...(input.mapper.transform ? { transform: input.mapper.transform } : {}),
    signal: input.signal,
  });
  sampleVerdict(result, report, keys.length, limit);
}

interface DbItem {
  db: number;
  argv: Array<string | number | Buffer>;
}

/** Commands on one connection in a db, with a SELECT when it is not the one last sent. */
interface DbReader {
  one(db: number, argv: DbItem['argv']): Promise<RespValue>;
  /** In one go; the first error reply rejects, as `one` would. */
  many(items: DbItem[]): Promise<RespValue[]>;
}

function onDb(c: RespConnection): DbReader {
  let at: number | undefined;
  return {
    one(db, argv) {
      if (at !== db) {
        // its failure (a lost connection) is the next command's too, which the caller sees
        c.send(['SELECT', db]).catch(() => undefined);
        at = db;
      }
      return c.send(argv);
    },
    async many(items) {
      const wire: Array<DbItem['argv']> = [];
      const mine: number[] = [];
      for (const it of items) {
        if (at !== it.db) {
          wire.push(['SELECT', it.db]);
          at = it.db;
        }
        mine.push(wire.length);
        wire.push(it.argv);
      }
      const replies = await c.sendBatch(wire);
      for (const r of replies) if (r instanceof ReplyError) throw r;
      return mine.map((i) => replies[i] as RespValue);
    },
  };
}

/** The error a failed check ends a completion with. */
export function notInSync(taskId: string, r: DoneCheckResult, o: { file?: boolean } = {}): FerryError {
  const find = o.file
    ? 'to list every difference, load the file into a server and run ferry verify against it; restoring again with the conflict policy "replace" writes the file over what differs'
    : 'find what differs with ferry verify (or verifyTask), then resume the task, or start it over';
  return new FerryError(
    'NOT_IN_SYNC',
    `task ${taskId} is not done: ${r.problem ?? r.summary}. The checkpoint is kept: ${find}`,
    { details: { ...r } },
  );
}
