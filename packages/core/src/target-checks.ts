import { FerryError } from '@ferry/errors';
import { connectEndpoint, type Endpoint, endpointName } from './endpoint.js';
import { OwnKeys } from './ferry-keys.js';
import { type KeyMapper, targetDbs } from './keys.js';
import type { ResolvedOptions } from './options.js';
import type { ShardSpec } from './plugins.js';
import { scanTarget } from './target/scan.js';
import type { TargetWriter } from './target/writer.js';

// What a task checks of its target (and of its source's dbs for it) before it writes anything.

/**
 * A cluster target has db 0 only: without a db map, keys of other source dbs would silently
 * merge into it. Refused, naming the dbs that hold keys.
 */
export async function refuseMultiDb(
  shards: ShardSpec[],
  proxy: string | undefined,
  signal: AbortSignal,
): Promise<void> {
  const busy = new Map<number, number>();
  await Promise.all(
    // a backup file's dbs are known once read: the snapshot writer refuses a key outside db 0
    shards
      .filter((s) => !s.file)
      .map(async (shard) => {
        const e = shard.replicas[0] ?? shard.primary;
        const conn = await connectEndpoint(e, signal);
        try {
          const text = String(await conn.send(['INFO', 'keyspace']));
          for (const m of text.matchAll(/^db(\d+):keys=(\d+)/gm)) {
            const db = Number(m[1]);
            if (db !== 0) busy.set(db, (busy.get(db) ?? 0) + Number(m[2]));
          }
        } finally {
          conn.destroy();
        }
      }),
  );
  if (busy.size === 0) return;
  const list = [...busy].sort((a, b) => a[0] - b[0]);
  throw new FerryError(
    'CONFIG_INVALID',
    `the target is ${proxy ? `a ${proxy} proxy` : 'a cluster'} (db 0 only) and the source has keys in db ${list.map(([db, n]) => `${db} (${n} keys)`).join(', ')}: map them with --db-map (e.g. --db-map 0=0,${list
      .map(([db]) => `${db}=0+db${db}:`)
      .join(',')} to keep them apart with a prefix), or migrate db 0 alone with --db-map 0=0`,
    { details: { dbs: Object.fromEntries(list) } },
  );
}

/** Every target db the db map names exists there: refused before anything is written. */
export async function checkTargetDbs(w: TargetWriter, mapper: KeyMapper, target: Endpoint): Promise<void> {
  for (const db of targetDbs(mapper, false)) {
    try {
      await w.send(db, undefined, ['DBSIZE'], { idempotent: true });
    } catch (err) {
      if (!/DB index is out of range|invalid DB index/i.test((err as Error).message)) throw err;
      const from = Array.from({ length: 16 }, (_, i) => i).filter((s) => mapper.route(s)?.db === db);
      throw new FerryError(
        'CONFIG_INVALID',
        `the db map sends source db ${from.join(', ')} to db ${db}, which the target ${endpointName(target)} does not have (its "databases" setting is lower): map to a db it has, e.g. --db-map ${from[0] ?? 0}=0`,
        { details: { db } },
      );
    }
  }
}

/**
 * Whether the target's mapped dbs (every node of a cluster) are empty as a new task starts.
 * Under the "fail" conflict policy a non-empty target refuses the task.
 */
export async function checkEmptyTarget(
  w: TargetWriter,
  mapper: KeyMapper,
  options: ResolvedOptions,
  target: Endpoint,
): Promise<boolean> {
  const dbs = targetDbs(mapper, w.cluster);
  for (const slot of w.masterSlots()) {
    for (const db of dbs) {
      const n = Number(await w.send(db, w.cluster ? slot : undefined, ['DBSIZE']).catch(() => 0));
      if (n > 0) {
        // keys of Ferry's own (checkpoints of an earlier task) do not count
        const sample: Buffer[] = [];
        let whole = true; // the whole db was scanned
        for await (const page of scanTarget(w, db, w.cluster ? slot : undefined, { count: 100 })) {
          sample.push(...page);
          if (sample.length >= 100) {
            whole = false;
            break;
          }
        }
        const own = new OwnKeys(options.reservedPrefix);
        const ours = sample.every((k) => own.is(k));
        if (ours && sample.length > 0 && (whole || sample.length >= n)) continue;
        if (options.conflict !== 'fail') return false;
        // the user's keys (Ferry's own, a lease kept between runs, are not theirs to empty)
        const theirs = whole ? sample.filter((k) => !own.is(k)).length : n;
        throw new FerryError(
          'TARGET_WRITE_FAILED',
          `target ${endpointName(target)} is not empty: db ${db} holds ${theirs} keys (conflict policy "fail"). Empty it, or choose --conflict replace or --conflict skip`,
          { details: { db, keys: theirs } },
        );
      }
    }
  }
  return true;
}
