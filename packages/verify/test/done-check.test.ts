import { checkDone, KeyMapper, TargetWriter } from '@ferry/core';
import { serverScope } from '@ferry/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { verifier } from '../src/index.js';

const servers = serverScope();
afterAll(() => servers.stop());

/**
 * The check before "done" samples keys with its own source connections and the task's writer
 * (a stage of a batch in one send a connection, SELECTs where the db changes): a value changed on
 * the target is found in either db, and equal sides pass.
 */
describe('the check before done', () => {
  it('finds changed values through its own connections, in every db, and passes equal sides', async () => {
    const [s, t] = await Promise.all([
      servers.redis({ label: 'source' }),
      servers.redis({ label: 'target' }),
    ]);
    const sc = s.client();
    const tc = t.client();
    // db 0: strings (read a stage at a time); db 1: hashes and a long string (read key by key)
    for (const c of [sc, tc]) {
      for (let i = 0; i < 10; i++) await c.set(`s:${i}`, `value ${i}`);
      await c.select(1);
      for (let i = 0; i < 10; i++) await c.hset(`h:${i}`, 'a', '1', 'b', `${i}`);
      await c.set('long', 'x'.repeat(10_000));
      await c.select(0);
    }
    const writer = await TargetWriter.open({ endpoint: { host: t.host, port: t.port } });
    const offset = Number(/master_repl_offset:(\d+)/.exec(await sc.info('replication'))?.[1] ?? 0);
    const check = () =>
      checkDone({
        shards: [{ name: 'source', endpoint: { host: s.host, port: s.port }, appliedOffset: offset }],
        writer,
        mapper: new KeyMapper(undefined, '', {}, false),
        targetDbs: [0, 1],
        targetOwned: true,
        verifier,
        signal: new AbortController().signal,
      });
    try {
      const equal = await check();
      expect(equal.ok, equal.problem).toBe(true);
      expect(equal.summary).toMatch(
        /^21 keys on both sides \(db 0, db 1\); \d+ sampled keys equal \(type, value, TTL\)$/,
      );

      // every string of db 0 and every hash of db 1 changed, at the same length: whatever keys the
      // sample draws, it finds some of each
      for (let i = 0; i < 10; i++) await tc.set(`s:${i}`, `VALUE ${i}`);
      await tc.select(1);
      for (let i = 0; i < 10; i++) await tc.hset(`h:${i}`, 'b', `${(i + 1) % 10}`);
      await tc.setrange('long', 9_999, 'y');
      const changed = await check();
      expect(changed.ok).toBe(false);
      // every key differs, those of db 1 (always in the sample) too
      expect(changed.sampled).toBeGreaterThan(1);
      expect(changed.sampleDifferences).toBe(changed.sampled);
      expect(changed.problem).toMatch(/sampled keys differ: value db \d "/);
      expect(changed.problem).toMatch(/value db 0 "s:\d" \(the strings differ within bytes 0–6\)/);
    } finally {
      await writer.close();
    }
  });
});
