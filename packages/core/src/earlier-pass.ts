import type { Arg } from '@ferry/resp';
import type { OwnKeys } from './ferry-keys.js';
import { targetDbs } from './keys.js';
import type { ShardContext } from './shard-context.js';
import type { ShardNotices } from './shard-notices.js';
import { keySlot } from './slot.js';
import type { SlotOwners } from './slot-owners.js';
import { scanTarget } from './target/scan.js';

/** What the clean-up before a snapshot written again needs of its shard. */
export interface EarlierPassHost {
  ctx: Pick<
    ShardContext,
    'writer' | 'targetOwned' | 'mapper' | 'shardCount' | 'targetFlush' | 'emit' | 'taskId' | 'shard' | 'moved'
  >;
  name: string;
  notices: ShardNotices;
  owners: SlotOwners;
  own: OwnKeys;
  /** Target dbs the shard wrote to; undefined when that is not known for everything it wrote. */
  written: ReadonlySet<number> | undefined;
}

/**
 * Before a snapshot is written again (a retry after a cut, a refused resume): what an earlier
 * pass wrote goes, as a Redis replica empties itself before it loads a new RDB. REPLACE alone is
 * not enough: a key that pass wrote and the source deleted before this snapshot's fork is in no
 * snapshot and would stay (a later APPEND or LPUSH then grows the stale value).
 *
 * Only what is certainly this shard's is removed: the target must have been empty when the task
 * started (else a stale key cannot be told from the user's own), and with several source shards
 * only keys of this shard's slots (a cluster source, a Codis group) go, and none once a source held
 * a key outside its shard's slots (MovedKeys.strays). Otherwise the risk is said, not taken.
 */
export async function dropEarlierPass(h: EarlierPassHost): Promise<void> {
  const { ctx } = h;
  const w = ctx.writer;
  const cannot = (why: string): void =>
    h.notices.warn(
      `full resync of ${h.name}: ${why}, so keys the source deleted since the earlier snapshot may remain on the target; verify after the migration (ferry verify) and remove extra keys it reports`,
    );
  if (w.proxy) return cannot(`the target is a ${w.proxy} proxy and cannot be emptied through it`);
  if (!ctx.targetOwned)
    return cannot('the target held keys when the task started (they cannot be told from stale ones)');
  // only dbs this task wrote to: another client's db is not the task's to empty
  const written = h.written;
  const dbs = written
    ? targetDbs(ctx.mapper, w.cluster).filter((db) => written.has(db))
    : targetDbs(ctx.mapper, w.cluster);
  if (ctx.shardCount === 1) {
    if (dbs.length === 0) return;
    const flush: Arg[] = w.atLeast('4.0.0') ? ['FLUSHDB', 'ASYNC'] : ['FLUSHDB'];
    ctx.targetFlush?.begin();
    try {
      for (const db of dbs) await w.broadcast(db, flush);
    } finally {
      await ctx.targetFlush?.end();
    }
    ctx.emit('task:warning', {
      taskId: ctx.taskId,
      shardId: ctx.shard.id,
      message: `full resync of ${h.name}: the target (db ${dbs.join(', ')}) emptied first, as it held only this task's keys`,
    });
    return;
  }
  const own = h.owners.mask();
  if (!own) return cannot("the source topology does not say which keys are this shard's");
  const strays = (): string =>
    `the source held ${ctx.moved.strays} key(s) outside their shard's slots (a key of this shard's slots on the target may be another shard's)`;
  if (ctx.moved.strays > 0) return cannot(strays());
  const { mask: mine, slotOf } = own;
  let unsettled = 0;
  for (const s of ctx.moved.unsettledSlots) if (mine[s]) unsettled++;
  for (const s of ctx.moved.unsettledSlots) mine[s] = 0;
  // target keys back to source keys: the prefixes the db map and rename prefix add
  const prefixes = new Map<number, Buffer[]>();
  for (let db = 0; db < 16; db++) {
    const r = ctx.mapper.route(db);
    if (!r?.prefix) continue;
    const list = prefixes.get(r.db) ?? [];
    if (!list.some((p) => p.equals(r.prefix as Buffer))) list.push(r.prefix);
    prefixes.set(
      r.db,
      list.sort((x, y) => y.length - x.length),
    );
  }
  let removed = 0;
  for (const nodeSlot of w.masterSlots()) {
    for (const db of dbs) {
      for await (const page of scanTarget(w, db, w.cluster ? nodeSlot : undefined)) {
        const doomed: Buffer[] = [];
        for (const k of page) {
          if (h.own.is(k)) continue; // checkpoint keys: this shard's are cleared next, the others' are theirs
          const p = prefixes.get(db)?.find((x) => k.length >= x.length && k.subarray(0, x.length).equals(x));
          if (mine[slotOf(p ? k.subarray(p.length) : k)]) doomed.push(k);
        }
        // a stray key another shard wrote in the meantime: noted before it was written, so before
        // this page was read
        if (ctx.moved.strays > 0) return cannot(`${strays()} (${removed} key(s) already removed)`);
        await Promise.all(doomed.map((k) => w.send(db, w.cluster ? keySlot(k) : undefined, ['DEL', k])));
        removed += doomed.length;
      }
    }
  }
  ctx.emit('task:warning', {
    taskId: ctx.taskId,
    shardId: ctx.shard.id,
    message: `full resync of ${h.name}: ${removed} key(s) of its slots removed from the target first${unsettled > 0 ? `; ${unsettled} of its slots moved between source shards during the task and were left alone (keys the source deleted there may remain: verify after the migration)` : ''}`,
  });
}
