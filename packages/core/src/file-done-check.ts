import { createReadStream } from 'node:fs';
import { RdbParser } from '@ferry/rdb';
import { type DoneCheckResult, sampleVerdict, valueLimit } from './done-check.js';
import { OwnKeys } from './ferry-keys.js';
import { FileKeys, holdValue } from './file-values.js';
import type { KeyMapper } from './keys.js';
import { scanTarget } from './target/scan.js';
import type { TargetWriter } from './target/writer.js';
import type { Verifier } from './verification.js';

export interface FileDoneInput {
  /** The RDB files the task read (a file source's shards). */
  files: string[];
  writer: TargetWriter;
  mapper: KeyMapper;
  targetDbs: number[];
  wroteDbs?: Set<number>;
  targetOwned: boolean;
  reservedPrefix?: string;
  verifier?: Verifier;
  /** Keys whose values are compared. Default 1000. */
  sample?: number;
  signal: AbortSignal;
}

/**
 * The check before "done" for a backup file: the files are read again, now, and what they hold
 * under the task's mapping (db map, filter, Ferry's own keys, keys already expired) is counted per
 * target db against the target's DBSIZE; a random sample of their keys (reservoir sampling, held
 * within a budget) is compared value by value with the target through the verifier, which reads
 * the file's side from the sample as it would read a server.
 */
export async function checkFileDone(input: FileDoneInput): Promise<DoneCheckResult> {
  const { writer: w, mapper, signal } = input;
  const want = input.sample ?? 1000;
  const limit = valueLimit(want);
  const own = new OwnKeys(input.reservedPrefix);
  const expected = new Map<number, number>();
  const held = new FileKeys();
  const reservoir: Array<{ db: number; key: Buffer }> = [];
  let seen = 0;
  let expiredInFile = 0;
  for (const path of input.files) {
    const parser = new RdbParser(createReadStream(path, { highWaterMark: 1 << 20 }), {});
    for await (const e of parser.entries()) {
      signal.throwIfAborted();
      if (e.kind !== 'key') continue;
      const route = mapper.route(e.db);
      const expired = e.expireAtMs !== undefined && e.expireAtMs <= Date.now();
      if (!route || own.is(e.key) || (mapper.filter && !mapper.filter(e.key, e.db)) || expired) {
        if (expired) expiredInFile++;
        await e.skip();
        continue;
      }
      // reservoir sampling: each key is in the sample with the same chance, whatever the file's size
      seen++;
      const slot = seen <= want ? seen - 1 : Math.floor(Math.random() * seen);
      if (slot < want) {
        const value = await holdValue(e, limit);
        if (!value) continue; // an empty value: Redis skips it on load, and so did the migration
        const old = reservoir[slot];
        if (old) held.delete(old.db, old.key);
        const key = Buffer.from(e.key);
        reservoir[slot] = { db: e.db, key };
        held.set(e.db, key, value);
      } else {
        await e.skip();
        if (e.empty) continue;
      }
      expected.set(route.db, (expected.get(route.db) ?? 0) + 1);
    }
  }
  // the target's count, now (a key past its expiry counts until a server deletes it: a SCAN
  // of the target deletes every such key it passes, so the count is read again after one)
  const count = async (): Promise<Map<number, number>> => {
    const dbs = new Map<number, number>();
    for (const slot of w.masterSlots())
      for (const db of input.targetDbs)
        dbs.set(
          db,
          (dbs.get(db) ?? 0) +
            Number(await w.send(db, w.cluster ? slot : undefined, ['DBSIZE'], { idempotent: true })),
        );
    return dbs;
  };
  let target = await count();
  const perDbOf = (t: Map<number, number>): DoneCheckResult['perDb'] =>
    input.targetDbs
      .map((db) => ({ db, source: expected.get(db) ?? 0, target: t.get(db) ?? 0 }))
      .filter((d) => d.source > 0 || (d.target > 0 && (input.wroteDbs?.has(d.db) ?? true)));
  const differs = (perDb: DoneCheckResult['perDb']): boolean =>
    perDb.some((d) => (input.targetOwned ? d.source !== d.target : d.target < d.source));
  if (differs(perDbOf(target))) {
    for (const slot of w.masterSlots())
      for (const db of input.targetDbs)
        for await (const _ of scanTarget(w, db, w.cluster ? slot : undefined));
    target = await count();
  }
  const perDb = perDbOf(target);
  const sourceKeys = perDb.reduce((a, d) => a + d.source, 0);
  const targetKeys = perDb.reduce((a, d) => a + d.target, 0);
  const files = input.files.length === 1 ? 'the file' : `the ${input.files.length} files`;
  const where = perDb.map((d) => `db ${d.db}: ${d.source} / ${d.target}`).join(', ') || 'no keys';
  const countsOk = !differs(perDb);
  const counts = input.targetOwned
    ? countsOk
      ? `${sourceKeys} keys in ${files} and on the target (${perDb.map((d) => `db ${d.db}`).join(', ') || 'empty'})`
      : `${sourceKeys} keys in ${files}, ${targetKeys} on the target (file / target: ${where})`
    : `${sourceKeys} keys in ${files}, ${targetKeys} on the target, which held other keys when the task started (${where})`;
  const result: DoneCheckResult = {
    ok: countsOk,
    exact: true,
    sourceKeys,
    targetKeys,
    expired: expiredInFile,
    perDb,
    sampled: 0,
    sampleDifferences: 0,
    summary: `${counts}${expiredInFile > 0 ? ` (${expiredInFile} keys of ${files} had expired and are not counted)` : ''}`,
  };
  if (!countsOk) {
    result.problem = `${targetKeys < sourceKeys ? 'the target is missing keys' : 'the target holds keys the file does not'}: ${counts}`;
    return result;
  }
  if (!input.verifier || reservoir.length === 0) {
    if (!input.verifier) result.summary += '; values not sampled (no verifier in this engine)';
    return result;
  }
  const keys = reservoir.filter(Boolean);
  const report = await input.verifier({
    source: { read: held.read },
    target: { endpoint: w.endpoint, cluster: w.cluster },
    mode: 'full',
    // a second look at what differs: a key that expired between the reads of both sides drops out
    rounds: 2,
    intervalMs: 200,
    keys,
    valueLimit: limit,
    ...(input.reservedPrefix ? { reservedPrefix: input.reservedPrefix } : {}),
    ...(mapper.dbMap ? { dbMap: mapper.dbMap } : {}),
    ...(mapper.renamePrefix ? { renamePrefix: mapper.renamePrefix } : {}),
    ...(mapper.transform ? { transform: mapper.transform } : {}),
    signal,
  });
  sampleVerdict(result, report, keys.length, limit, files);
  return result;
}

/** What the AOF check reads of each shard: the command bytes it applied and how many the AOF has. */
export interface AofShardDone {
  name: string;
  appliedOffset: number;
  sourceOffset: number;
}

/**
 * The check before "done" for an AOF: its final state is only known by replaying it, so what is
 * checked is that every command of it was applied and acknowledged by the target (the position
 * applied is the AOF's last byte), and the target's keys are counted and said — not compared.
 */
export async function checkAofDone(input: {
  shards: AofShardDone[];
  writer: TargetWriter;
  targetDbs: number[];
}): Promise<DoneCheckResult> {
  const w = input.writer;
  const perDb: DoneCheckResult['perDb'] = [];
  for (const db of input.targetDbs) {
    let n = 0;
    for (const slot of w.masterSlots())
      n += Number(await w.send(db, w.cluster ? slot : undefined, ['DBSIZE'], { idempotent: true }));
    if (n > 0) perDb.push({ db, source: n, target: n });
  }
  const targetKeys = perDb.reduce((a, d) => a + d.target, 0);
  const behind = input.shards.filter((s) => s.appliedOffset < s.sourceOffset);
  const bytes = input.shards.reduce((a, s) => a + s.sourceOffset, 0);
  const held = `the target holds ${targetKeys} keys (${perDb.map((d) => `db ${d.db}: ${d.target}`).join(', ') || 'none'})`;
  const result: DoneCheckResult = {
    ok: behind.length === 0,
    exact: false,
    sourceKeys: undefined,
    targetKeys,
    expired: 0,
    perDb,
    sampled: 0,
    sampleDifferences: 0,
    summary: `every command of the AOF applied and acknowledged by the target (${bytes} bytes); ${held}; keys not compared: an AOF's final state is only known by replaying it`,
  };
  if (!result.ok)
    result.problem = `the AOF was not applied to its end: ${behind.map((s) => `${s.name} at byte ${s.appliedOffset} of ${s.sourceOffset}`).join(', ')}`;
  return result;
}
