import { setTimeout as sleep } from 'node:timers/promises';
import {
  type DbMap,
  dbTargetOf,
  type Endpoint,
  type KeyFilterSpec,
  keyFilter,
  keySlot,
  OwnKeys,
  onSide,
  RateLimiter,
  readInRuns,
  TargetWriter,
} from '@ferry/core';
import type { RespValue } from '@ferry/resp';
import {
  type CompareContext,
  compareBatch,
  type Difference,
  type DiffKind,
  type KeyPair,
  type Read,
  type ReadItem,
  type ReadMany,
  type VerifyMode,
} from './compare.js';

/**
 * One side of the comparison: a standalone server (every db), a Redis Cluster (db 0), or a sharded
 * deployment without routing Ferry can compute: the servers behind twemproxy, the groups of Codis
 * (`shards`: each key lives on one of them).
 */
export type SideSpec =
  | { endpoint: Endpoint; cluster?: boolean }
  | { shards: Endpoint[] }
  /**
   * No server of its own: each read answered by `read` (a backup file's sampled keys, or servers
   * the caller holds open), `readMany` for a stage at once; only with `keys`.
   */
  | { read: Read; readMany?: ReadMany };

function isSharded(s: SideSpec): s is { shards: Endpoint[] } {
  return 'shards' in s;
}

function isRead(s: SideSpec): s is { read: Read; readMany?: ReadMany } {
  return 'read' in s;
}

export interface VerifyOptions {
  source: SideSpec;
  target: SideSpec;
  mode?: VerifyMode;
  /** Check this fraction of the source's keys, chosen at random (the reverse pass likewise). Default 1. */
  sample?: number;
  /** Rounds: round 1 reads everything, later ones only re-read the previous round's differences. Default 3. */
  rounds?: number;
  /** Pause before each later round, for keys in flight to arrive. Default 1000 ms. */
  intervalMs?: number;
  /** Expiry times may differ this much. Default 2000 ms. */
  ttlToleranceMs?: number;
  /** Keys compared per second at most (0: unlimited). */
  keysPerSec?: number;
  /** The task's mapping: source db → target db (+prefix), rename prefix, key filter. */
  dbMap?: DbMap;
  renamePrefix?: string;
  filter?: KeyFilterSpec;
  /**
   * The task's key transforms (plugins): a source key's name before the prefixes, null when it is
   * not migrated; `sourceKey`, when there is one, leads a target key back (else the target → source
   * pass is skipped, and the report says why).
   */
  transform?: {
    ids: string[];
    key(key: Buffer, db: number): Buffer | null;
    sourceKey?: (targetKey: Buffer, db: number) => Buffer | null;
  };
  /**
   * The task's reserved prefix (default `__ferry:`): target keys under it are Ferry's (checkpoints,
   * leases) and not compared; on the source only its heartbeat is, so a user's key under the prefix,
   * which a migration leaves behind, shows as missing.
   */
  reservedPrefix?: string;
  /**
   * Values longer than this are compared by type, length and expiry only (elements of an aggregate;
   * bytes of a string), and counted in the report's `valuesNotRead`. Default: every value is read.
   */
  valueLimit?: { elements: number; bytes: number };
  /** Compare these source keys only, one way, without a SCAN of either side (a sample the caller chose). */
  keys?: Array<{ db: number; key: Buffer }>;
  /** Differences kept in the report's details (all are counted; `onDifference` sees every one). */
  maxDetails?: number;
  /** Called for every difference of the last round (a file export). */
  onDifference?: (d: Difference) => void;
  /** Progress, about once a second. */
  onProgress?: (p: { round: number; keysChecked: number; differences: number }) => void;
  signal?: AbortSignal;
}

export interface VerifyReport {
  mode: VerifyMode;
  rounds: number;
  /** Keys read in round 1 (source keys plus target keys checked for being extra). */
  keysChecked: number;
  /** Differences left after each round. */
  perRound: number[];
  /** What remains after the last round, by kind. */
  counts: Record<DiffKind, number>;
  differences: number;
  details: Difference[];
  /** Keys of round 1 whose values were longer than `valueLimit`: compared by type, length and expiry only. */
  valuesNotRead: number;
  /** Set when the target → source pass did not run, saying why (a transform without an inverse). */
  oneWay?: string;
  durationMs: number;
}

const SCAN_COUNT = 500;
const BATCHES_IN_FLIGHT = 4;

/** A part of a side SCAN covers: a db of one server (a standalone, a master, a shard). */
interface Unit {
  db: number;
  send(argv: Array<string | number | Buffer>): Promise<RespValue>;
  /** The keys a SCAN of this unit returned are on this node (a sharded side remembers it). */
  saw?(keys: Buffer[]): void;
}

interface Side {
  read: Read;
  readMany?: ReadMany;
  /** Units that cover every key of these dbs: each db of a standalone server or shard, each master of a cluster. */
  scanUnits(dbs: number[]): Unit[];
  /** One unit per node (for INFO). */
  nodes(): Unit[];
  /** db 0 only. */
  cluster: boolean;
  close(): Promise<void>;
}

const LOCATED_MAX = 200_000;

async function openSide(s: SideSpec, signal?: AbortSignal): Promise<Side> {
  const open = (endpoint: Endpoint, cluster: boolean): Promise<TargetWriter> =>
    TargetWriter.open({ endpoint, cluster, maxInFlight: 1024, ...(signal ? { signal } : {}) });
  if (isRead(s))
    return {
      read: s.read,
      ...(s.readMany ? { readMany: s.readMany } : {}),
      scanUnits: () => {
        throw new Error('a side read without a server can only be compared key by key (keys)');
      },
      nodes: () => [],
      cluster: false,
      close: async () => undefined,
    };
  if (!isSharded(s)) {
    const w = await open(s.endpoint, Boolean(s.cluster));
    const unit = (db: number, slot: number | undefined): Unit => ({
      db,
      send: (argv) => w.send(db, slot, argv, { idempotent: true }),
    });
    return {
      read: (db, key, argv) => w.send(db, w.cluster ? keySlot(key) : undefined, argv, { idempotent: true }),
      // a cluster's keys of a stage are on several nodes, each read routed on its own
      ...(w.cluster ? {} : { readMany: (items: readonly ReadItem[]) => readInRuns(w, items) }),
      scanUnits: (dbs) =>
        w.cluster ? w.masterSlots().map((slot) => unit(0, slot)) : dbs.map((db) => unit(db, undefined)),
      nodes: () => (w.cluster ? w.masterSlots().map((slot) => unit(0, slot)) : [unit(0, undefined)]),
      cluster: w.cluster,
      close: () => w.close(),
    };
  }
  if (s.shards.length === 0) throw new Error('a sharded side needs at least one server');
  const tried = await Promise.allSettled(s.shards.map((e) => open(e, false)));
  const bad = tried.find((r) => r.status === 'rejected');
  if (bad) {
    for (const r of tried) if (r.status === 'fulfilled') await r.value.close().catch(() => undefined);
    throw bad.reason;
  }
  const ws = tried.map((r) => (r as PromiseFulfilledResult<TargetWriter>).value);
  // where a key was last seen (SCAN of a shard), so reads go to its server; else every server is asked
  const located = new Map<string, number>();
  const remember = (db: number, keys: Buffer[], i: number): void => {
    for (const k of keys) {
      const id = `${db}\u0000${k.toString('latin1')}`;
      located.delete(id);
      located.set(id, i);
      if (located.size > LOCATED_MAX) located.delete(located.keys().next().value as string);
    }
  };
  const where = async (db: number, key: Buffer): Promise<number> => {
    const id = `${db}\u0000${key.toString('latin1')}`;
    const known = located.get(id);
    if (known !== undefined) return known;
    const exists = await Promise.all(
      ws.map((w) => w.send(db, undefined, ['EXISTS', key], { idempotent: true })),
    );
    const at = exists.findIndex((n) => Number(n) > 0);
    return Math.max(0, at); // nowhere (-1): any server answers "none"
  };
  const unit = (i: number, db: number): Unit => ({
    db,
    send: (argv) => (ws[i] as TargetWriter).send(db, undefined, argv, { idempotent: true }),
    saw: (keys) => remember(db, keys, i),
  });
  return {
    read: async (db, key, argv) =>
      (ws[await where(db, key)] as TargetWriter).send(db, undefined, argv, { idempotent: true }),
    scanUnits: (dbs) => ws.flatMap((_, i) => dbs.map((db) => unit(i, db))),
    nodes: () => ws.map((_, i) => unit(i, 0)),
    cluster: false,
    close: async () => {
      await Promise.all(ws.map((w) => w.close()));
    },
  };
}

/** Dbs holding keys on a side (INFO keyspace of every node). */
async function usedDbs(side: Side): Promise<number[]> {
  const dbs = new Set<number>();
  for (const u of side.nodes()) {
    const text = String(await u.send(['INFO', 'keyspace']));
    for (const m of text.matchAll(/^db(\d+):keys=(\d+)/gm)) if (Number(m[2]) > 0) dbs.add(Number(m[1]));
  }
  return [...dbs].sort((a, b) => a - b);
}

/** SCANs one unit to its end, a batch of keys at a time. */
async function* scan(unit: Unit, signal?: AbortSignal): AsyncGenerator<Buffer[]> {
  let cursor = '0';
  do {
    signal?.throwIfAborted();
    const [next, keys] = (await unit.send(['SCAN', cursor, 'COUNT', SCAN_COUNT])) as [RespValue, Buffer[]];
    cursor = String(next);
    if (keys.length > 0) {
      unit.saw?.(keys);
      yield keys;
    }
  } while (cursor !== '0');
}

/**
 * Compares a source deployment with a target deployment key by key, both ways, under the task's
 * mapping, and re-checks what differs in later rounds so that keys merely in flight drop out.
 */
export async function verify(o: VerifyOptions): Promise<VerifyReport> {
  const started = Date.now();
  const mode = o.mode ?? 'full';
  const rounds = Math.max(1, o.rounds ?? 3);
  const sample = o.sample ?? 1;
  const maxDetails = o.maxDetails ?? 1000;
  const filter = o.filter ? keyFilter(o.filter) : undefined;
  const own = new OwnKeys(o.reservedPrefix);
  const limiter = new RateLimiter({ keysPerSec: o.keysPerSec ?? 0 });
  const prefixOf = (db: number): { db: number; prefix: Buffer } | undefined => {
    const t = dbTargetOf(o.dbMap, db);
    if (!t) return undefined;
    return {
      db: !isSharded(o.target) && !isRead(o.target) && o.target.cluster ? 0 : t.db,
      prefix: Buffer.from(`${t.prefix ?? ''}${o.renamePrefix ?? ''}`),
    };
  };
  // a source key's name on the target (undefined: not migrated)
  const targetName = (key: Buffer, db: number, prefix: Buffer): Buffer | undefined => {
    const k = o.transform ? o.transform.key(key, db) : key;
    if (k === null) return undefined;
    return prefix.length ? Buffer.concat([prefix, k]) : k;
  };
  const oneWay =
    o.transform && !o.transform.sourceKey
      ? `target keys were not traced back to the source: transform ${o.transform.ids.join(', ')} has no inverse (sourceKey)`
      : undefined;
  // both sides opened, each error naming its side; a side opened when the other failed is closed
  const opened = await Promise.allSettled([
    openSide(o.source, o.signal).catch((err: unknown) => Promise.reject(onSide('source', err))),
    openSide(o.target, o.signal).catch((err: unknown) => Promise.reject(onSide('target', err))),
  ]);
  const failed = opened.find((r) => r.status === 'rejected');
  if (failed) {
    for (const r of opened) if (r.status === 'fulfilled') await r.value.close().catch(() => undefined);
    throw failed.reason;
  }
  const [source, target] = opened.map((r) => (r as PromiseFulfilledResult<Side>).value) as [Side, Side];
  let round = 1;
  let valuesNotRead = 0;
  const ctx: CompareContext = {
    source: source.read,
    target: target.read,
    ...(source.readMany ? { sourceMany: source.readMany } : {}),
    ...(target.readMany ? { targetMany: target.readMany } : {}),
    mode,
    ttlToleranceMs: o.ttlToleranceMs ?? 2000,
    ...(o.valueLimit
      ? {
          valueLimit: o.valueLimit,
          onValueNotRead: () => {
            if (round === 1) valuesNotRead++;
          },
        }
      : {}),
  };

  const picked = (): boolean => sample >= 1 || Math.random() < sample;
  let keysChecked = 0;
  let found: Difference[] = [];
  let lastProgress = Date.now();
  const progress = (round: number): void => {
    if (o.onProgress && Date.now() - lastProgress >= 1000) {
      lastProgress = Date.now();
      o.onProgress({ round, keysChecked, differences: found.length });
    }
  };
  // batches of keys compared while the next SCAN batch is read; a bounded number in flight
  const inflight = new Set<Promise<void>>();
  const run = async (pairs: KeyPair[]): Promise<void> => {
    if (pairs.length === 0) return;
    while (inflight.size >= BATCHES_IN_FLIGHT) await Promise.race(inflight);
    if (limiter.active) await limiter.take(pairs.length, 0, o.signal);
    const p = compareBatch(ctx, pairs).then((d) => {
      found.push(...d);
    });
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
    keysChecked += pairs.length;
  };
  const settle = async (): Promise<void> => {
    await Promise.all(inflight);
  };

  try {
    if (o.keys) {
      const pairs: KeyPair[] = [];
      for (const { db, key } of o.keys) {
        const to = prefixOf(db);
        const targetKey = to ? targetName(key, db, to.prefix) : undefined;
        if (!to || !targetKey) continue;
        pairs.push({ db, key, targetDb: to.db, targetKey });
      }
      for (let i = 0; i < pairs.length; i += SCAN_COUNT) await run(pairs.slice(i, i + SCAN_COUNT));
    }
    // round 1, source → target: every (sampled, filtered) source key
    const dbs = o.keys ? [] : await usedDbs(source);
    for (const unit of o.keys ? [] : source.scanUnits(dbs)) {
      for await (const keys of scan(unit, o.signal)) {
        const to = prefixOf(unit.db);
        const pairs: KeyPair[] = [];
        for (const key of keys) {
          if (!to || own.isHeartbeat(key) || (filter && !filter(key)) || !picked()) continue;
          const targetKey = targetName(key, unit.db, to.prefix);
          if (!targetKey) continue;
          pairs.push({ db: unit.db, key, targetDb: to.db, targetKey });
        }
        await run(pairs);
        progress(1);
      }
    }
    // round 1, target → source: target keys the mapping does not lead to from an existing source key
    const reverse = new Map<number, Array<{ db: number; prefix: Buffer }>>();
    for (const db of source.cluster
      ? [0]
      : Array.from({ length: 16 }, (_, i) => i).concat(dbs.filter((d) => d >= 16))) {
      const to = prefixOf(db);
      if (!to) continue;
      const list = reverse.get(to.db) ?? [];
      if (!list.some((x) => x.prefix.equals(to.prefix))) list.push({ db, prefix: to.prefix });
      reverse.set(to.db, list);
    }
    const back = !o.keys && !oneWay;
    const tdbs = back ? await usedDbs(target) : [];
    for (const unit of back ? target.scanUnits(tdbs) : []) {
      const origins = reverse.get(unit.db) ?? [];
      for await (const keys of scan(unit, o.signal)) {
        const asked: Array<{ from: { db: number; prefix: Buffer }; key: Buffer; targetKey: Buffer }> = [];
        for (const targetKey of keys) {
          if (own.is(targetKey) || !picked()) continue;
          // the longest prefix that leads here (db1: before the empty prefix of db0)
          const from = origins
            .filter(
              (x) =>
                x.prefix.length <= targetKey.length &&
                targetKey.compare(x.prefix, 0, x.prefix.length, 0, x.prefix.length) === 0,
            )
            .sort((a, b) => b.prefix.length - a.prefix.length)[0];
          if (!from) {
            found.push({
              kind: 'extra',
              db: -1,
              key: targetKey,
              targetDb: unit.db,
              targetKey,
              detail: 'no source db maps to this key',
            });
            continue;
          }
          const named = targetKey.subarray(from.prefix.length);
          const key = o.transform?.sourceKey ? o.transform.sourceKey(named, from.db) : named;
          if (key === null) {
            found.push({
              kind: 'extra',
              db: from.db,
              key: named,
              targetDb: unit.db,
              targetKey,
              detail: `no source key leads here through transform ${o.transform?.ids.join(', ')}`,
            });
            continue;
          }
          if (filter && !filter(key)) continue;
          asked.push({ from, key, targetKey });
        }
        // only what the first pass could not see: target keys whose source key does not exist
        const exists = await Promise.all(asked.map((x) => source.read(x.from.db, x.key, ['EXISTS', x.key])));
        keysChecked += asked.length;
        asked.forEach((x, i) => {
          if (Number(exists[i]) === 0)
            found.push({
              kind: 'extra',
              db: x.from.db,
              key: x.key,
              targetDb: unit.db,
              targetKey: x.targetKey,
              detail: 'the target has a key the source does not',
            });
        });
        progress(1);
      }
    }
    await settle();
    const perRound = [found.length];
    // later rounds: only the previous round's differences, after a pause
    for (round = 2; round <= rounds && found.length > 0; round++) {
      await sleep(o.intervalMs ?? 1000, undefined, o.signal ? { signal: o.signal } : {});
      const again = found;
      found = [];
      const unmapped = again.filter((d) => d.db < 0);
      const still = await Promise.all(
        unmapped.map((d) => target.read(d.targetDb, d.targetKey, ['EXISTS', d.targetKey])),
      );
      unmapped.forEach((d, i) => {
        if (Number(still[i])) found.push(d);
      });
      const mapped = again.filter((d) => d.db >= 0);
      for (let i = 0; i < mapped.length; i += SCAN_COUNT)
        await run(
          mapped
            .slice(i, i + SCAN_COUNT)
            .map((d) => ({ db: d.db, key: d.key, targetDb: d.targetDb, targetKey: d.targetKey })),
        );
      await settle();
      perRound.push(found.length);
      progress(round);
    }
    const counts: Record<DiffKind, number> = { missing: 0, extra: 0, type: 0, length: 0, value: 0, ttl: 0 };
    for (const d of found) {
      counts[d.kind]++;
      o.onDifference?.(d);
    }
    return {
      mode,
      rounds: perRound.length,
      keysChecked,
      perRound,
      counts,
      differences: found.length,
      details: found.slice(0, maxDetails),
      valuesNotRead,
      ...(oneWay && !o.keys ? { oneWay } : {}),
      durationMs: Date.now() - started,
    };
  } finally {
    await Promise.all([source.close(), target.close()]);
  }
}
