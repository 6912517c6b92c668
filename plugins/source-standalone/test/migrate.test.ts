import { randomBytes } from 'node:crypto';
import {
  compareDeployments,
  formatDifferences,
  populate,
  prefixPerDbMapping,
  type RedisCluster,
  serverScope,
} from '@ferry/testkit';
import { verify } from '@ferry/verify';
import { afterAll, describe, expect, it } from 'vitest';
import { endpointOf, engine, ferryKeys, loadAcrossSnapshot, record, spec, untilSynced } from './helpers.js';

const servers = serverScope();
afterAll(() => servers.stop());
const server = servers.redis;
const cluster = (): Promise<RedisCluster> => servers.cluster({ masters: 3 });

describe('standalone → standalone', () => {
  it('migrates every type and encoding in three dbs while the source is written to', async () => {
    const source = await server({ label: 'source' });
    const target = await server({ label: 'target' });
    const src = source.client();
    await populate(src, {
      dbs: [0, 1, 2],
      randomKeys: 2000,
      bigKeys: { elements: 1_000_000, types: ['list'] },
    });
    const task = engine().createTask(spec(source, endpointOf(target)));
    const log = record(task);
    const load = loadAcrossSnapshot(source.client(), task, { opsPerSec: 2000, dbs: [0, 1, 2] });
    const running = task.start();
    const done = await load.done;
    expect(done.spannedSnapshot).toBe(true);
    expect(done.ops).toBeGreaterThan(2000);
    expect(done.errors).toBe(0);
    await untilSynced(task);
    await task.complete();
    await running;
    expect(task.state).toBe('succeeded');
    expect(log.starts.map((s) => s.mode)).toEqual(['full']);
    const diffs = await compareDeployments(source, target, { dbs: [0, 1, 2] });
    expect(formatDifferences(diffs), log.warnings.join('\n')).toBe('');
    expect(await ferryKeys(target)).toEqual([]);
    // Ferry's own verifier agrees with the oracle: nothing differs, in full mode, over 3 rounds
    const report = await verify({
      source: { endpoint: endpointOf(source) },
      target: { endpoint: endpointOf(target) },
      mode: 'full',
      rounds: 3,
      intervalMs: 200,
    });
    expect(report.differences, JSON.stringify(report.counts)).toBe(0);
    expect(report.keysChecked).toBeGreaterThan(2000);
    src.disconnect();
  });
});

describe('standalone → cluster', () => {
  it('maps three dbs to db 0 with a prefix each, big key included, under write load', async () => {
    const source = await server({ label: 'source' });
    const target = await cluster();
    const src = source.client();
    await populate(src, {
      dbs: [0, 1, 2],
      randomKeys: 1000,
      bigKeys: { elements: 1_000_000, types: ['hash'] },
    });
    const prefix = (db: number): string => `db${db}:`;
    const task = engine().createTask(
      spec(
        source,
        { host: target.seeds[0]?.host ?? '127.0.0.1', port: target.seeds[0]?.port ?? 0 },
        {
          target: { endpoint: { host: '127.0.0.1', port: target.seeds[0]?.port ?? 0 }, cluster: true },
          options: {
            dbMap: {
              0: { db: 0, prefix: prefix(0) },
              1: { db: 0, prefix: prefix(1) },
              2: { db: 0, prefix: prefix(2) },
            },
          },
        },
      ),
    );
    const log = record(task);
    const load = loadAcrossSnapshot(source.client(), task, { opsPerSec: 1500, dbs: [0, 1, 2] });
    const running = task.start();
    expect((await load.done).spannedSnapshot).toBe(true);
    await untilSynced(task);
    await task.complete();
    await running;
    expect(task.state).toBe('succeeded');
    const diffs = await compareDeployments(source, target, {
      dbs: [0, 1, 2],
      mapping: prefixPerDbMapping(prefix, [0, 1, 2]),
    });
    expect(formatDifferences(diffs), log.warnings.join('\n')).toBe('');
    const report = await verify({
      source: { endpoint: endpointOf(source) },
      target: { endpoint: { host: '127.0.0.1', port: target.seeds[0]?.port ?? 0 }, cluster: true },
      dbMap: {
        0: { db: 0, prefix: prefix(0) },
        1: { db: 0, prefix: prefix(1) },
        2: { db: 0, prefix: prefix(2) },
      },
      mode: 'full',
      rounds: 3,
      intervalMs: 200,
    });
    expect(report.differences, JSON.stringify(report.counts)).toBe(0);
    src.disconnect();
  });
});

describe('standalone → cluster: commands every target node gets', () => {
  it('keeps FLUSHALL in its place in the stream: writes before it are gone, writes after it stay', async () => {
    const source = await server({ label: 'source' });
    const target = await cluster();
    const endpoint = { host: '127.0.0.1', port: target.seeds[0]?.port ?? 0 };
    const task = engine().createTask(spec(source, endpoint, { target: { endpoint, cluster: true } }));
    const log = record(task);
    const running = task.start();
    await untilSynced(task);
    // one pipeline, so the stream carries them together (one batch for the shard runner)
    const src = source.client();
    const p = src.pipeline();
    for (let i = 0; i < 50; i++) p.set(`k${i}`, 'before').set(`gone${i}`, 'before');
    p.flushall();
    for (let i = 0; i < 50; i++) p.set(`k${i}`, 'after');
    p.set('only-after', '1');
    await p.exec();
    await untilSynced(task);
    await task.complete();
    await running;
    const diffs = await compareDeployments(source, target);
    expect(formatDifferences(diffs), log.warnings.join('\n')).toBe('');
    const c = target.client();
    expect(await c.get('k7')).toBe('after');
    expect(await c.get('only-after')).toBe('1');
    expect(await c.exists('gone3')).toBe(0); // the FLUSHALL was applied, not skipped
    c.disconnect();
    src.disconnect();
  });
});

describe('multi-db standalone → cluster', () => {
  it('is refused without a db map, naming the dbs that hold keys and --db-map', async () => {
    const source = await server({ label: 'source-multidb' });
    const target = await cluster();
    const src = source.client();
    await populate(src, { dbs: [0, 2, 5], randomKeys: 50 });
    const task = engine().createTask(
      spec(
        source,
        { host: '127.0.0.1', port: 0 },
        { target: { endpoint: target.seeds[0] as never, cluster: true } },
      ),
    );
    const err = await task.start().then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.message).toMatch(
      /source has keys in db 2 \(\d+ keys\), 5 \(\d+ keys\): map them with --db-map/,
    );
    expect(task.state).toBe('failed');
    // nothing was written to the target
    const sizes = await Promise.all((await target.masters()).map((m) => m.client().dbsize()));
    expect(sizes).toEqual([0, 0, 0]);
    src.disconnect();
  });
});

describe('write modes', () => {
  it('rewrite path forced gives the same result', async () => {
    const source = await server({ label: 'source' });
    const target = await server({ label: 'target' });
    const src = source.client();
    await populate(src, { dbs: [0, 1], randomKeys: 500, bigKeys: { elements: 20_000 } });
    const task = engine().createTask(
      spec(source, endpointOf(target), { options: { writeMode: 'rewrite', bigKeyThreshold: 64 * 1024 } }),
    );
    const log = record(task);
    const load = loadAcrossSnapshot(source.client(), task, { opsPerSec: 1000, dbs: [0, 1] });
    const running = task.start();
    expect((await load.done).spannedSnapshot).toBe(true);
    await untilSynced(task);
    await task.complete();
    await running;
    const diffs = await compareDeployments(source, target, { dbs: [0, 1] });
    expect(formatDifferences(diffs), log.warnings.join('\n')).toBe('');
    src.disconnect();
  });

  it('strings go as SET in auto mode and keep the conflict policies and TTLs of RESTORE', async () => {
    const source = await server({ label: 'source' });
    const src = source.client();
    const p = src.pipeline();
    for (let i = 0; i < 300; i++) p.set(`s:${i}`, i % 3 === 0 ? String(i) : `value ${i} `.repeat(i % 40));
    for (let i = 0; i < 300; i += 7) p.pexpire(`s:${i}`, 3_600_000 + i);
    p.set('lzf', 'x'.repeat(5000)); // stored LZF-compressed in the RDB
    // over an MSET's 64 KB a value: a command of its own (compressible, and not)
    p.set('big-lzf', 'y'.repeat(100_000));
    p.set('big-plain', randomBytes(100_000).toString('base64'));
    await p.exec();
    const run = async (conflict: 'skip' | 'fail' | 'replace') => {
      const target = await server({ label: `target-${conflict}` });
      const tgt = target.client();
      await tgt.set('s:1', 'theirs'); // no expiry
      await tgt.set('s:7', 'theirs too', 'PX', 999_000); // the source's s:7 has an expiry
      await tgt.set('s:8', 'theirs as well', 'PX', 999_000); // the source's s:8 has none
      const task = engine().createTask(spec(source, endpointOf(target), { options: { conflict } }));
      const log = record(task);
      const running = task.start().then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      if (conflict !== 'fail') {
        await untilSynced(task);
        // done is checked against the servers: only where the target equals the source
        await (conflict === 'replace' ? task.complete() : task.stop());
      }
      return { target, tgt, err: await running, log, task };
    };

    const skip = await run('skip');
    expect(skip.err).toBeUndefined();
    expect(await skip.tgt.get('s:1')).toBe('theirs');
    expect(await skip.tgt.get('s:7')).toBe('theirs too');
    expect(await skip.tgt.pttl('s:8')).toBeGreaterThan(900_000);
    expect(await skip.tgt.get('s:2')).toBe('value 2 value 2 ');
    expect(await skip.tgt.get('lzf')).toBe('x'.repeat(5000));
    expect((await skip.tgt.keys('s:*')).length).toBe(300);

    const fail = await run('fail');
    expect(fail.task.state).toBe('failed');
    // refused before any write (a key that appears on the target later is refused by SET … NX's nil)
    expect(fail.err?.message).toMatch(/is not empty/);
    expect(await fail.tgt.get('s:2')).toBeNull();

    const replace = await run('replace');
    expect(replace.err).toBeUndefined();
    const diffs = await compareDeployments(source, replace.target, { dbs: [0] });
    expect(formatDifferences(diffs), replace.log.warnings.join('\n')).toBe('');
    // the source's expiries, to the millisecond where the target takes PXAT (6.2+)
    expect(await replace.tgt.pttl('s:8')).toBe(-1);
    const [srcAt, tgtAt] = await Promise.all([
      src.call('PEXPIRETIME', 's:7'),
      replace.tgt.call('PEXPIRETIME', 's:7'),
    ]);
    expect(tgtAt).toBe(srcAt);
    expect(await replace.tgt.object('ENCODING', 's:3')).toBe('int');
    // plain strings went as SET (those with an expiry) or many to an MSET (those without), never
    // compressed; the ones the RDB holds LZF-compressed as RESTORE (the target decompresses them for
    // less than Ferry would)
    const stats = await replace.tgt.info('commandstats');
    const calls = (c: string) => Number(new RegExp(`cmdstat_${c}:calls=(\\d+)`).exec(stats)?.[1] ?? 0);
    expect(calls('set')).toBeGreaterThanOrEqual(15); // 43 keys have an expiry, the LZF ones go as RESTORE
    // (most of the others are LZF-compressed in the RDB: RESTORE; the rest, up to 128 a command:
    // fewer commands than the 303 keys, however the snapshot's batches fell)
    expect(calls('mset')).toBeGreaterThanOrEqual(1);
    expect(calls('mset') + calls('set') + calls('restore')).toBeLessThan(303);
    expect(calls('restore')).toBeGreaterThanOrEqual(1);
    // under "skip", the MSETNX holding s:1 and s:8 set nothing: its keys went again one SET NX each
    const skipStats = await skip.tgt.info('commandstats');
    expect(Number(/cmdstat_msetnx:calls=(\d+)/.exec(skipStats)?.[1] ?? 0)).toBeGreaterThanOrEqual(1);
    for (const r of [skip, fail, replace]) r.tgt.disconnect();
    src.disconnect();
  });

  it('the rewrite path writes a string as one SET (LZF-compressed ones too) and a small value as one group', async () => {
    const source = await server({ label: 'source' });
    const target = await server({ label: 'target' });
    const src = source.client();
    const p = src.pipeline();
    for (let i = 0; i < 200; i++) p.set(`s:${i}`, `value ${i}`);
    p.set('lzf', 'x'.repeat(5000)); // stored LZF-compressed in the RDB
    for (let i = 0; i < 50; i++) p.hset(`h:${i}`, 'a', '1', 'b', String(i));
    p.pexpire('h:3', 3_600_000);
    await p.exec();
    const task = engine().createTask(spec(source, endpointOf(target), { options: { writeMode: 'rewrite' } }));
    const running = task.start();
    await untilSynced(task);
    await task.complete();
    await running;
    expect(formatDifferences(await compareDeployments(source, target, { dbs: [0] }))).toBe('');
    const stats = String(await target.client().info('commandstats'));
    const calls = (c: string) => Number(new RegExp(`cmdstat_${c}:calls=(\\d+)`).exec(stats)?.[1] ?? 0);
    // no temporary key for a string: the 201 (the LZF-compressed one too, decompressed here) go as
    // MSETNX, up to 128 a command; no RESTORE; one DEL + HSET + RENAME(NX) per hash
    expect(calls('restore')).toBe(0);
    expect(calls('msetnx')).toBeGreaterThanOrEqual(2);
    expect(calls('msetnx') + calls('set')).toBeLessThan(201); // many strings a command
    expect(calls('rename') + calls('renamenx')).toBe(50);
    expect(calls('hset')).toBe(50);

    // the conflict policy "skip" on this path: a key the target holds keeps its value (a string's
    // SET NX, a hash's RENAMENX), the rest arrive, no temporary key is left behind
    const taken = await server({ label: 'target-skip' });
    const tgt = taken.client();
    await tgt.set('s:5', 'theirs');
    await tgt.hset('h:5', 'theirs', 'yes');
    const skip = engine().createTask(
      spec(source, endpointOf(taken), { options: { writeMode: 'rewrite', conflict: 'skip' } }),
    );
    const skipping = skip.start();
    await untilSynced(skip);
    await skip.stop();
    await skipping;
    expect(await tgt.get('s:5')).toBe('theirs');
    expect(await tgt.hgetall('h:5')).toEqual({ theirs: 'yes' });
    expect(await tgt.hgetall('h:6')).toEqual({ a: '1', b: '6' });
    expect(await tgt.pttl('h:3')).toBeGreaterThan(3_000_000);
    expect(await tgt.keys('__ferry:tmp:*')).toEqual([]);
    expect((await tgt.keys('h:*')).length).toBe(50);
    tgt.disconnect();
    src.disconnect();
  });

  it('auto switches to rewriting when the target refuses RESTORE', async () => {
    const source = await server({ label: 'source' });
    const target = await server({ label: 'target', config: { 'rename-command': ['RESTORE ""'] } });
    const src = source.client();
    await populate(src, { randomKeys: 300 });
    const task = engine().createTask(spec(source, endpointOf(target)));
    const log = record(task);
    const running = task.start();
    await untilSynced(task);
    await task.complete();
    await running;
    expect(log.warnings.some((w) => /refused RESTORE.*rewrite/.test(w))).toBe(true);
    const diffs = await compareDeployments(source, target, { dbs: [0] });
    expect(formatDifferences(diffs), log.warnings.join('\n')).toBe('');
    src.disconnect();
  });
});
