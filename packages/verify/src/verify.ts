import { setTimeout as sleep } from 'node:timers/promises';
import {
  type DbMap,
  dbTargetOf,
  type Endpoint,
  FERRY_KEY_PREFIX,
  type KeyFilterSpec,
  keyFilter,
  keySlot,
  RateLimiter,
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
  type VerifyMode,
} from './compare.js';

/** One side of the comparison: a standalone server (every db) or a Redis Cluster (db 0). */
export interface SideSpec {
  endpoint: Endpoint;
  cluster?: boolean;
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
  durationMs: number;
}

const SCAN_COUNT = 500;
const BATCHES_IN_FLIGHT = 4;

interface Side {
  w: TargetWriter;
  read: Read;
  /** (db, slot) pairs that cover every key: each db of a standalone server, each master of a cluster. */
  scanUnits(dbs: number[]): Array<{ db: number; slot: number | undefined }>;
}

async function openSide(s: SideSpec, signal?: AbortSignal): Promise<Side> {
  const w = await TargetWriter.open({
    endpoint: s.endpoint,
    cluster: Boolean(s.cluster),
    maxInFlight: 1024,
    ...(signal ? { signal } : {}),
  });
  return {
    w,
    read: (db, key, argv) => w.send(db, w.cluster ? keySlot(key) : undefined, argv, { idempotent: true }),
    scanUnits: (dbs) =>
      w.cluster
        ? w.masterSlots().map((slot) => ({ db: 0, slot }))
        : dbs.map((db) => ({ db, slot: undefined })),
  };
}

/** Dbs holding keys on a side (INFO keyspace of every master). */
async function usedDbs(side: Side): Promise<number[]> {
  const dbs = new Set<number>();
  for (const u of side.scanUnits([0])) {
    const text = String(await side.w.send(0, u.slot, ['INFO', 'keyspace']));
    for (const m of text.matchAll(/^db(\d+):keys=(\d+)/gm)) if (Number(m[2]) > 0) dbs.add(Number(m[1]));
  }
  return [...dbs].sort((a, b) => a - b);
}

/** SCANs one unit to its end, a batch of keys at a time. */
async function* scan(
  side: Side,
  unit: { db: number; slot: number | undefined },
  signal?: AbortSignal,
): AsyncGenerator<Buffer[]> {
  let cursor = '0';
  do {
    signal?.throwIfAborted();
    const [next, keys] = (await side.w.send(unit.db, unit.slot, ['SCAN', cursor, 'COUNT', SCAN_COUNT], {
      idempotent: true,
    })) as [RespValue, Buffer[]];
    cursor = String(next);
    if (keys.length > 0) yield keys;
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
  const limiter = new RateLimiter({ keysPerSec: o.keysPerSec ?? 0 });
  const prefixOf = (db: number): { db: number; prefix: Buffer } | undefined => {
    const t = dbTargetOf(o.dbMap, db);
    if (!t) return undefined;
    return {
      db: o.target.cluster ? 0 : t.db,
      prefix: Buffer.from(`${t.prefix ?? ''}${o.renamePrefix ?? ''}`),
    };
  };
  const [source, target] = await Promise.all([openSide(o.source, o.signal), openSide(o.target, o.signal)]);
  const ctx: CompareContext = {
    source: source.read,
    target: target.read,
    mode,
    ttlToleranceMs: o.ttlToleranceMs ?? 2000,
  };
  const own = Buffer.from(FERRY_KEY_PREFIX);
  const isOwn = (k: Buffer): boolean =>
    k.length >= own.length && k.compare(own, 0, own.length, 0, own.length) === 0;
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
    // round 1, source → target: every (sampled, filtered) source key
    const dbs = await usedDbs(source);
    for (const unit of source.scanUnits(dbs)) {
      for await (const keys of scan(source, unit, o.signal)) {
        const to = prefixOf(unit.db);
        const pairs: KeyPair[] = [];
        for (const key of keys) {
          if (!to || isOwn(key) || (filter && !filter(key)) || !picked()) continue;
          const targetKey = to.prefix.length ? Buffer.concat([to.prefix, key]) : key;
          pairs.push({ db: unit.db, key, targetDb: to.db, targetKey });
        }
        await run(pairs);
        progress(1);
      }
    }
    // round 1, target → source: target keys the mapping does not lead to from an existing source key
    const reverse = new Map<number, Array<{ db: number; prefix: Buffer }>>();
    for (const db of o.source.cluster
      ? [0]
      : Array.from({ length: 16 }, (_, i) => i).concat(dbs.filter((d) => d >= 16))) {
      const to = prefixOf(db);
      if (!to) continue;
      const list = reverse.get(to.db) ?? [];
      if (!list.some((x) => x.prefix.equals(to.prefix))) list.push({ db, prefix: to.prefix });
      reverse.set(to.db, list);
    }
    const tdbs = await usedDbs(target);
    for (const unit of target.scanUnits(tdbs)) {
      const origins = reverse.get(unit.db) ?? [];
      for await (const keys of scan(target, unit, o.signal)) {
        const asked: Array<{ from: { db: number; prefix: Buffer }; key: Buffer; targetKey: Buffer }> = [];
        for (const targetKey of keys) {
          if (isOwn(targetKey) || !picked()) continue;
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
          const key = targetKey.subarray(from.prefix.length);
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
    for (let round = 2; round <= rounds && found.length > 0; round++) {
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
      durationMs: Date.now() - started,
    };
  } finally {
    await Promise.all([source.w.close(), target.w.close()]);
  }
}
