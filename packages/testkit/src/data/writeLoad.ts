import type { Redis } from 'ioredis';
import { setTimeout as sleep } from 'node:timers/promises';
import { type AnyClient, type Arg, isCluster } from '../internal/sink.js';
import { Random } from './random.js';

/** The operations of the load mix (RENAME, MULTI/EXEC and SELECT each stand for their little sequence). */
export type LoadOp =
  | 'set'
  | 'incr'
  | 'append'
  | 'lpush'
  | 'rpop'
  | 'hset'
  | 'hdel'
  | 'sadd'
  | 'srem'
  | 'zadd'
  | 'zincrby'
  | 'xadd'
  | 'expire'
  | 'del'
  | 'rename'
  | 'multi'
  | 'select';

/** A realistic default: mostly small writes, some deletes and expirations, a few transactions. */
export const DEFAULT_LOAD_MIX: Readonly<Record<LoadOp, number>> = {
  set: 20,
  incr: 10,
  append: 4,
  lpush: 8,
  rpop: 5,
  hset: 10,
  hdel: 3,
  sadd: 8,
  srem: 3,
  zadd: 7,
  zincrby: 4,
  xadd: 4,
  expire: 4,
  del: 3,
  rename: 2,
  multi: 3,
  select: 2,
};

/** The part of the load twemproxy 0.5 takes (no MULTI, SELECT, RENAME or XADD): for loads through a proxy. */
export const PROXY_LOAD_MIX: Readonly<Partial<Record<LoadOp, number>>> = Object.fromEntries(
  Object.entries(DEFAULT_LOAD_MIX).filter(([op]) => !['multi', 'select', 'rename', 'xadd'].includes(op)),
);

export interface WriteLoadOptions {
  opsPerSec: number;
  durationMs: number;
  /** Relative weights; missing ops get 0 when a mix is given. Default DEFAULT_LOAD_MIX. */
  mix?: Partial<Record<LoadOp, number>>;
  /** Distinct keys per type. Default 1000. */
  keyspace?: number;
  /** Prefix of every key touched. Default "load:". */
  prefix?: string;
  /** Databases SELECT writes into (standalone). Default [0, 1] when `select` is in the mix, else [0]. */
  dbs?: number[];
  seed?: number;
  /** Commands awaiting a reply at most. Default 1000. */
  maxInFlight?: number;
  /** Stops early. */
  signal?: AbortSignal;
  /** Whether XADD is used (Redis 5+); default true. */
  streams?: boolean;
}

export interface WriteLoadResult {
  ops: number;
  byOp: Record<LoadOp, number>;
  /** Unexpected error replies (WRONGTYPE would mean the load itself is broken). */
  errors: number;
  errorSamples: string[];
  durationMs: number;
  opsPerSec: number;
}

/**
 * Keeps writing a realistic mix at `opsPerSec` for `durationMs` (or until `signal` aborts) and
 * returns what it did. Key families never collide across types, so no command fails with WRONGTYPE;
 * multi-key sequences use one hash tag so they also work on a cluster. On a cluster, SELECT is skipped.
 */
export async function writeLoad(client: AnyClient, options: WriteLoadOptions): Promise<WriteLoadResult> {
  const cluster = isCluster(client);
  const mix: Partial<Record<LoadOp, number>> = { ...(options.mix ?? DEFAULT_LOAD_MIX) };
  if (cluster) mix.select = 0;
  if (options.streams === false) mix.xadd = 0;
  const weights = Object.fromEntries(Object.entries(mix).filter(([, w]) => (w ?? 0) > 0)) as Record<LoadOp, number>;
  const rnd = new Random(options.seed ?? 7);
  const keyspace = options.keyspace ?? 1000;
  const prefix = options.prefix ?? 'load:';
  const dbs = options.dbs ?? (weights.select ? [0, 1] : [0]);
  const maxInFlight = options.maxInFlight ?? 1000;
  const byOp = Object.fromEntries(Object.keys(DEFAULT_LOAD_MIX).map((k) => [k, 0])) as Record<LoadOp, number>;
  const result: WriteLoadResult = { ops: 0, byOp, errors: 0, errorSamples: [], durationMs: 0, opsPerSec: 0 };

  // A connection of our own for standalone servers, so SELECT never leaks into the caller's client.
  const conn: AnyClient = cluster ? client : (client as Redis).duplicate();
  if (!cluster) (conn as Redis).on('error', () => {});
  let inFlight = 0;
  let wake: (() => void) | undefined;
  const settle = (): void => {
    inFlight--;
    wake?.();
  };
  const onError = (err: Error): void => {
    result.errors++;
    if (result.errorSamples.length < 10) result.errorSamples.push(err.message);
  };
  const call = (name: string, ...args: Arg[]): void => {
    inFlight++;
    conn.call(name, ...args).then(settle, (err: Error) => {
      onError(err);
      settle();
    });
  };
  const slot = (family: string): string => `${prefix}{${family}:${rnd.int(0, keyspace - 1)}}`;

  const issue = (op: LoadOp): void => {
    switch (op) {
      case 'set':
        return call('SET', slot('s'), rnd.text(rnd.int(8, 64)));
      case 'incr':
        return call('INCR', slot('c'));
      case 'append':
        return call('APPEND', slot('a'), rnd.text(8));
      case 'lpush':
        return call('LPUSH', slot('l'), rnd.text(10), rnd.text(10));
      case 'rpop':
        return call('RPOP', slot('l'));
      case 'hset':
        return call('HSET', slot('h'), `f${rnd.int(0, 49)}`, rnd.text(16));
      case 'hdel':
        return call('HDEL', slot('h'), `f${rnd.int(0, 49)}`);
      case 'sadd':
        return call('SADD', slot('set'), `m${rnd.int(0, 99)}`);
      case 'srem':
        return call('SREM', slot('set'), `m${rnd.int(0, 99)}`);
      case 'zadd':
        return call('ZADD', slot('z'), String(rnd.int(-500, 500) / 4), `m${rnd.int(0, 99)}`);
      case 'zincrby':
        return call('ZINCRBY', slot('z'), '1.5', `m${rnd.int(0, 99)}`);
      case 'xadd':
        return call('XADD', slot('x'), 'MAXLEN', '~', '100', '*', 'v', rnd.text(12));
      case 'expire': {
        // Mostly long TTLs; one in ten expires within seconds, so expirations happen during a migration.
        const seconds = rnd.next() < 0.1 ? rnd.int(1, 5) : rnd.int(60, 3600);
        return call('EXPIRE', slot('s'), String(seconds));
      }
      case 'del':
        return call('DEL', slot(rnd.pick(['s', 'c', 'a', 'l', 'h', 'set', 'z'])));
      case 'rename': {
        const src = slot('s');
        call('SET', src, rnd.text(16));
        return call('RENAME', src, `${src}:renamed`);
      }
      case 'multi': {
        const family = `m:${rnd.int(0, keyspace - 1)}`;
        const base = `${prefix}{${family}}`;
        inFlight++;
        conn
          .multi()
          .incr(`${base}:n`)
          .set(`${base}:v`, rnd.text(12))
          .hset(`${base}:h`, 'f', rnd.text(6))
          .exec()
          .then((res) => {
            for (const [err] of res ?? []) if (err) onError(err);
          }, onError)
          .finally(settle);
        return;
      }
      case 'select': {
        // SELECT n; write; SELECT 0 — written back-to-back on our own connection, so nothing else interleaves.
        const db = rnd.pick(dbs);
        call('SELECT', String(db));
        call('SET', slot('sel'), `db${db}:${rnd.text(8)}`);
        return call('SELECT', '0');
      }
    }
  };

  const started = Date.now();
  const end = started + options.durationMs;
  try {
    while (!options.signal?.aborted) {
      const now = Date.now();
      if (now >= end) break;
      const due = Math.floor(((now - started) / 1000) * options.opsPerSec) - result.ops;
      for (let i = 0; i < due; i++) {
        while (inFlight >= maxInFlight) await new Promise<void>((r) => (wake = r));
        const op = rnd.weighted(weights);
        issue(op);
        result.ops++;
        byOp[op]++;
      }
      await sleep(5);
    }
    while (inFlight > 0) await new Promise<void>((r) => (wake = r));
  } finally {
    if (!cluster) (conn as Redis).disconnect();
  }
  result.durationMs = Date.now() - started;
  result.opsPerSec = Math.round((result.ops / Math.max(1, result.durationMs)) * 1000);
  return result;
}
