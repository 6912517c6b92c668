import { FerryError, isFerryError } from '@ferry/errors';
import {
  type KeyEntry,
  lzfStringParts,
  RDB_TYPE_HASH_TMPL_ARRAY_REF,
  RDB_TYPE_HASH_TMPL_LP_REF,
  RDB_TYPE_STRING,
  RdbParser,
} from '@ferry/rdb';
import { ReplyError } from '@ferry/resp';
import type { DbRoute } from './keys.js';
import { encodeMsets, encodeRestores, type LzfValue, MSET_KEYS, type RestoreItem } from './restore.js';
import type { SnapshotJob } from './shard-context.js';
import { keySlot } from './slot.js';
import type { SnapshotHost } from './snapshot-host.js';
import { type RebuildGroup, ValueRebuilder } from './snapshot-rebuild.js';

const SNAPSHOT_BATCH = 512;
/** The RDB version that brought the ARRAY type (Redis 8.8): a target must take it in RESTORE. */
const ARRAY_RDB = 14;

export type { SnapshotHost };

interface BulkItem extends RestoreItem {
  route: DbRoute;
  slot: number | undefined;
  e: KeyEntry;
  /** An LZF-compressed string going to an MSET: decompressed into the command itself. */
  lzf?: LzfValue | undefined;
}

/**
 * A string small enough for an MSET: at most 64 KB, so that 128 of them stay far below what a
 * server takes in one command (client-query-buffer-limit); bigger ones go one a command.
 */
function msetSized(set: Buffer | undefined, lzf: LzfValue | undefined): boolean {
  return (set ? set.length : (lzf?.len ?? Number.POSITIVE_INFINITY)) <= 64 << 10;
}

/** A captured plain or integer string, decoded whole (one chunk), for SET; undefined for anything else. */
function smallString(e: KeyEntry, lzf: boolean): Buffer | undefined {
  // where RESTORE can carry it, an LZF-compressed string stays a RESTORE: the target decompresses it
  // in C for less than it costs here (measured on 1 M such strings: SET took 0.5 s more of Ferry's
  // CPU than it saved)
  if (e.rdbType !== RDB_TYPE_STRING || (e.encoding === 'lzf' && !lzf)) return undefined;
  const chunks = e.decoded();
  const c = chunks?.length === 1 ? chunks[0] : undefined;
  return c?.type === 'string' && c.offset === 0 && c.data.length === c.length ? c.data : undefined;
}

interface BulkGroup {
  db: number;
  slot: number | undefined;
  items: BulkItem[];
  rdbVersion: number;
  replace: boolean;
  /** The target takes ABSTTL (used for the keys with an expiry). */
  absttl: boolean;
}

/**
 * A snapshot's keys written to the target: RESTOREs (and SETs for plain strings) in units per node
 * and db, within a window of commands and bytes; values the target cannot take as RESTORE rewritten
 * with type commands; the conflict policy. One writer per pass: its failure is that pass's.
 */
export class SnapshotWriter {
  private failure: Error | undefined;
  private readonly rebuild: ValueRebuilder;

  constructor(
    private readonly h: SnapshotHost,
    /** Whether keys may go as RESTORE (false once the target refused one: the rewrite path). */
    public restoreAllowed: boolean,
  ) {
    this.rebuild = new ValueRebuilder(h, (key, cause) => this.keyExists(key, cause));
  }

  private throwIfFailed(): void {
    const f = this.failure ?? this.h.failed?.();
    if (f) throw f;
  }

  private fail(err: unknown): void {
    if (!this.failure) this.failure = err instanceof Error ? err : new Error(String(err));
    const code = isFerryError(err) ? err.code : 'ERROR';
    this.h.metrics.errors[code] = (this.h.metrics.errors[code] ?? 0) + 1;
  }

  /** Parses the snapshot and writes its keys to the target; throws the first failure. */
  async write(input: AsyncIterable<Buffer>, job: SnapshotJob): Promise<void> {
    const { ctx } = this.h;
    const { writer, mapper, options, signal, limiter } = ctx;
    const replace = job.replace;
    const abs = writer.atLeast('5.0.0');
    const targetRdb = writer.restoreAccepts;
    // strings go as SET in auto mode: a fifth less of the target's time than RESTORE (no payload to
    // check), no CRC64 here, and any source version's strings fit any target
    // and whenever RESTORE is not used (the rewrite path): one SET, not a temporary key renamed
    const setWorks = writer.versionKnown && writer.atLeast('2.6.12');
    // strings without an expiry go many to an MSET (MSETNX) on a server target: not through a proxy
    // (twemproxy has no MSETNX) nor to a cluster (an MSET's keys must share a slot)
    const msetWorks = setWorks && !writer.cluster && !writer.proxy;
    const pxat = writer.atLeast('6.2.0');
    const parser = new RdbParser(input, {
      rawLimit: options.bigKeyThreshold,
      checksumThread: (job.snapshotBytes ?? Number.POSITIVE_INFINITY) > 16 << 20,
      // the thread reads the spool itself: no chunk copied to it
      ...(job.path ? { checksumFile: job.path } : {}),
    });
    job.onOpened?.();
    // commands written and not yet acknowledged, at most maxInflight, and their values' bytes, at
    // most maxInFlightBytes: a window of big values cannot pile up in memory
    let inflight = 0;
    let inflightBytes = 0;
    const waiters: Array<() => void> = [];
    const track = (p: Promise<unknown>, weight = 1, bytes = 0): void => {
      inflight += weight;
      inflightBytes += bytes;
      this.h.track(
        p
          .then(
            () => undefined,
            (err: unknown) => this.fail(err),
          )
          .finally(() => {
            inflight -= weight;
            inflightBytes -= bytes;
            waiters.shift()?.();
          }),
      );
    };
    const maxInflight = options.maxInFlight * Math.max(1, writer.masters().length);
    const now = (): number => Date.now();
    /** A batch's unit for one target node (a cluster's) or db, made at its first key. */
    const nodeOf = (db: number, slot: number | undefined): string =>
      writer.cluster ? writer.nodeName(slot) : String(db);
    const groupOf = (
      units: Map<string, BulkGroup>,
      id: string,
      db: number,
      slot: number | undefined,
    ): BulkGroup => {
      let g = units.get(id);
      if (!g) {
        g = { db, slot, items: [], rdbVersion: parser.version, replace, absttl: abs };
        units.set(id, g);
      }
      return g;
    };
    let firstKeyAt: number | undefined;
    for await (const batch of parser.batches(SNAPSHOT_BATCH)) {
      firstKeyAt ??= performance.now();
      this.throwIfFailed();
      signal.throwIfAborted();
      const gate = ctx.gate();
      if (gate) await gate;
      this.h.metrics.snapshotBytes = parser.offset;
      // RESTOREs of values already in memory go out as one unit per target node and db
      const bulk = new Map<string, BulkGroup>();
      let bulkBytes = 0;
      const rebuilds = new Map<number, RebuildGroup>();
      const msets = new Map<string, BulkGroup>();
      const sendBulk = (): void => {
        for (const g of msets.values())
          track(
            this.msetBulk(g),
            g.items.length, // the window counts keys: an MSET holds many
            g.items.reduce((n, it) => n + it.value.length, 0),
          );
        msets.clear();
        for (const g of bulk.values())
          track(
            this.restoreBulk(g),
            g.items.length,
            g.items.reduce((n, it) => n + it.value.length, 0),
          );
        bulk.clear();
        for (const g of rebuilds.values()) track(this.rebuild.bulk(g), g.keys.length, g.bytes);
        rebuilds.clear();
        bulkBytes = 0;
      };
      for (const e of batch) {
        if (e.kind === 'function') {
          if (!writer.atLeast('7.0.0')) {
            this.h.notices.warn('the source has Redis functions; the target (before 7.0) cannot load them');
            continue;
          }
          if (writer.proxy) {
            this.h.notices.warn(
              `the source has Redis functions; a ${writer.proxy} target cannot load them (load them on its servers)`,
            );
            continue;
          }
          await writer.broadcast(0, ['FUNCTION', 'LOAD', 'REPLACE', e.code]);
          continue;
        }
        if (e.kind === 'module-aux') {
          this.h.notices.warn(
            `the snapshot carries data of module ${e.name}: the target needs that module loaded`,
          );
          continue;
        }
        if (e.kind !== 'key') continue;
        if (e.db !== 0 && mapper.mergesDbs) throw keyOutsideDb0(e.db, writer.proxy);
        const route = mapper.route(e.db);
        if (this.h.own.is(e.key)) {
          this.h.metrics.skippedKeys++; // Ferry's own keys (a heartbeat) are not migrated
          continue;
        }
        if (
          !route ||
          (mapper.filter && !mapper.filter(e.key, e.db)) ||
          (e.expireAtMs !== undefined && e.expireAtMs <= now())
        ) {
          this.h.metrics.skippedKeys++;
          continue;
        }
        // a batch of big values already read goes out before more are read (it counts too)
        if (bulkBytes > 0 && inflightBytes + bulkBytes >= options.maxInFlightBytes) sendBulk();
        while (inflight >= maxInflight || (inflight > 0 && inflightBytes >= options.maxInFlightBytes))
          await new Promise<void>((r) => waiters.push(r));
        this.throwIfFailed();
        const raw = e.captured ?? (await e.raw());
        if (e.empty) {
          this.h.metrics.skippedKeys++;
          continue;
        }
        if (limiter.active) {
          await limiter.take(1, raw?.length ?? e.sizeHint.bytes ?? 0, signal);
          // under a rate limit one batch lasts long: a pause holds at the next key, not the next batch
          const held = ctx.gate();
          if (held) await held;
        }
        const key = mapper.name(e.key, e.db, route.prefix);
        if (e.keyMeta)
          this.h.notices.warn(
            `module key metadata (${e.keyMeta.join(', ')}) is not carried: the keys are written without it`,
            key,
          );
        if (key.length > writer.maxKeyBytes) {
          this.h.metrics.skippedKeys++;
          this.h.notices.unsupported(
            `key ${JSON.stringify(`${key.subarray(0, 60).toString('latin1')}…`)} (${key.length} bytes) was not written: longer than the target takes (${writer.maxKeyBytes} bytes)`,
            key.subarray(0, 200),
            'RESTORE',
          );
          continue;
        }
        if (e.type === 'array' && !(writer.versionKnown && targetRdb >= ARRAY_RDB && this.restoreAllowed)) {
          this.h.metrics.skippedKeys++;
          this.h.notices.unsupported(
            `key ${JSON.stringify(key.subarray(0, 60).toString('latin1'))} is an ARRAY (Redis 8.8): a target before Redis 8.8 has no such type, so it was not written (a target on 8.8 takes it; --filter '!<key>' leaves it out)`,
            key.subarray(0, 200),
            'RESTORE',
          );
          continue;
        }
        this.h.owners.check(e.key);
        this.h.noteDb(route.db);
        const slot = writer.cluster ? keySlot(key) : undefined;
        this.h.metrics.keys++;
        const useRestore =
          raw !== undefined &&
          // a hash naming one of the file's templates means nothing to another server's RESTORE
          e.rdbType !== RDB_TYPE_HASH_TMPL_LP_REF &&
          e.rdbType !== RDB_TYPE_HASH_TMPL_ARRAY_REF &&
          (options.writeMode === 'restore' ||
            (this.restoreAllowed &&
              (writer.takesRestoreOf(parser.version) || e.type === 'module' || !writer.versionKnown)));
        const set =
          setWorks && e.captured && (options.writeMode === 'auto' || !useRestore)
            ? smallString(e, !useRestore)
            : undefined;
        // an LZF-compressed string without an expiry joins an MSET too, decompressed into the
        // command (RESTORE stays its fallback: only where RESTORE is used)
        const toMset = msetWorks && e.expireAtMs === undefined;
        const lzf =
          toMset && !set && useRestore && e.captured && e.encoding === 'lzf'
            ? lzfStringParts(raw as Buffer)
            : undefined;
        if (toMset && (set ?? lzf) && msetSized(set, lzf)) {
          const value = raw as Buffer;
          groupOf(msets, String(route.db), route.db, slot).items.push({
            route,
            slot,
            key,
            e,
            value,
            ttl: 0,
            rdbType: e.rdbType,
            replace,
            absttl: abs,
            set,
            lzf,
          });
          bulkBytes += value.length;
        } else if (set) {
          const ttl =
            e.expireAtMs === undefined ? 0 : pxat ? e.expireAtMs : Math.max(1, e.expireAtMs - now());
          const value = raw as Buffer;
          groupOf(bulk, nodeOf(route.db, slot), route.db, slot).items.push({
            route,
            slot,
            key,
            e,
            value,
            ttl,
            rdbType: e.rdbType,
            replace,
            absttl: pxat,
            set,
          });
          bulkBytes += value.length;
        } else if (useRestore) {
          const absttl = e.expireAtMs !== undefined && abs;
          const ttl = e.expireAtMs === undefined ? 0 : abs ? e.expireAtMs : Math.max(1, e.expireAtMs - now());
          if (e.captured) {
            groupOf(bulk, nodeOf(route.db, slot), route.db, slot).items.push({
              route,
              slot,
              key,
              e,
              value: raw,
              ttl,
              rdbType: e.rdbType,
              replace,
              absttl,
            });
            bulkBytes += raw.length;
          } else {
            const item = { key, ttl, rdbType: e.rdbType, value: raw, replace, absttl };
            track(this.restore(route, slot, item, parser.version, e), 1, raw.length);
          }
        } else if (e.captured && raw !== undefined && !writer.cluster && !writer.proxy) {
          // rebuilt with the other values of this batch in one round trip (per target db)
          let g = rebuilds.get(route.db);
          if (!g) {
            g = { db: route.db, cmds: [], keys: [], bytes: 0 };
            rebuilds.set(route.db, g);
          }
          const { tmp, cmds } = this.rebuild.commands(slot, key, e, replace);
          for (const c of cmds) g.cmds.push(c);
          g.keys.push({ key, tmp, at: g.cmds.length - 1, replace });
          g.bytes += raw.length;
          bulkBytes += raw.length;
        } else if (e.captured) {
          track(this.rebuild.rewrite(route, slot, key, e, raw, replace), 1, raw?.length ?? 0);
        } else {
          // the value is still in the stream: read it before the parser moves on
          await this.rebuild
            .rewrite(route, slot, key, e, raw, replace)
            .catch((err: unknown) => this.fail(err));
        }
      }
      sendBulk();
    }
    while (inflight > 0) await new Promise<void>((r) => waiters.push(r));
    this.throwIfFailed();
    this.h.metrics.snapshotBytes = parser.offset;
    this.h.metrics.snapshotWriteMs = firstKeyAt === undefined ? 0 : performance.now() - firstKeyAt;
  }

  /**
   * Strings without an expiry as MSETs (MSETNX unless replacing), one unit. An MSETNX answering 0
   * (one of its keys exists: it set none) or any refusal sends that command's keys again as one SET
   * each, where a key that exists is dealt with by the conflict policy.
   */
  private async msetBulk(g: BulkGroup): Promise<void> {
    const { wire, commands } = encodeMsets(g.items, g.replace);
    const replies = await this.h.ctx.writer.sendBulk(g.db, undefined, [wire], commands);
    const again: BulkItem[] = [];
    for (let c = 0; c < commands; c++) {
      const r = replies[c];
      if (r === 'OK' || r === 1) continue;
      for (const it of g.items.slice(c * MSET_KEYS, (c + 1) * MSET_KEYS)) again.push(it);
    }
    if (again.length > 0) await this.restoreBulk({ ...g, items: again });
  }

  /** One unit of RESTOREs; a key the target did not take is sent again alone, where its error is dealt with. */
  private async restoreBulk(g: BulkGroup): Promise<void> {
    const unit = encodeRestores(g.items, g.rdbVersion);
    const replies = await this.h.ctx.writer.sendBulk(g.db, g.slot, [unit], g.items.length);
    for (let i = 0; i < replies.length; i++) {
      const it = g.items[i] as BulkItem;
      // SET … NX answers nil where RESTORE without REPLACE says BUSYKEY
      if (it.set && replies[i] === null && !it.replace) {
        this.keyExists(it.key);
        continue;
      }
      if (!(replies[i] instanceof ReplyError)) continue;
      // a key the target refused is sent again alone as RESTORE (ttl in RESTORE's own terms)
      const ttl =
        it.e.expireAtMs === undefined
          ? 0
          : g.absttl
            ? it.e.expireAtMs
            : Math.max(1, it.e.expireAtMs - Date.now());
      if (it.set) {
        it.ttl = ttl;
        it.absttl = it.e.expireAtMs !== undefined && g.absttl;
      }
      await this.restore(it.route, it.slot, { ...it, set: undefined }, g.rdbVersion, it.e);
    }
  }

  /** One RESTORE (encoded as the bulk path encodes them), its refusals dealt with. */
  private async restore(
    route: DbRoute,
    slot: number | undefined,
    it: RestoreItem,
    rdbVersion: number,
    e: KeyEntry,
  ): Promise<void> {
    const { writer, options } = this.h.ctx;
    const { key } = it;
    try {
      const cmd = encodeRestores([it], rdbVersion);
      await writer.sendGroup(route.db, slot, [cmd], false, { idempotent: true });
    } catch (err) {
      const reply = err instanceof FerryError && err.cause instanceof ReplyError ? err.cause : undefined;
      if (reply && /BUSYKEY/.test(reply.message)) {
        this.keyExists(key, err);
        return;
      }
      // the target cannot take this payload (older RDB version, RESTORE disabled or renamed): rewrite
      if (
        reply &&
        options.writeMode === 'auto' &&
        e.type !== 'module' &&
        /DUMP payload version|Bad data format|unknown command|NOPERM/i.test(reply.message)
      ) {
        if (this.restoreAllowed) {
          this.restoreAllowed = false;
          this.h.notices.warn(
            `the target refused RESTORE (${reply.message}): switching to the rewrite path`,
            key,
            'RESTORE',
          );
        }
        await this.rebuild.rewrite(route, slot, key, e, it.value, it.replace);
        return;
      }
      if (reply && /DUMP payload version|Bad data format/i.test(reply.message)) {
        throw new FerryError(
          'TARGET_WRITE_FAILED',
          `target refused the serialized value of ${JSON.stringify(key.toString('latin1'))} (${reply.message}): it is older than the source; use --write-mode rewrite`,
          { cause: err },
        );
      }
      throw err;
    }
  }

  /** The key is already on the target: skipped under the "skip" policy, else the task fails saying so. */
  private keyExists(key: Buffer, cause?: unknown): void {
    if (this.h.ctx.options.conflict === 'skip') {
      this.h.metrics.skippedKeys++;
      return;
    }
    throw new FerryError(
      'TARGET_WRITE_FAILED',
      `key ${JSON.stringify(key.toString('latin1'))} already exists on the target (conflict policy "fail"; use --conflict replace or skip)`,
      cause === undefined ? undefined : { cause },
    );
  }
}

/** A key of a db other than 0 read for a target that has db 0 only, with no db map to say where. */
function keyOutsideDb0(db: number, proxy: string | undefined): FerryError {
  return new FerryError(
    'CONFIG_INVALID',
    `the target is ${proxy ? `a ${proxy} proxy` : 'a cluster'} (db 0 only) and the source has keys in db ${db}: map them with --db-map (e.g. --db-map 0=0,${db}=0+db${db}: to keep them apart with a prefix), or migrate db 0 alone with --db-map 0=0`,
    { details: { db } },
  );
}
