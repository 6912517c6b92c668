/**
 * The servers people run now, as real builds when this machine has them: Redis 8.6 and Valkey 9.1
 * in FERRY_REDIS_BUILDS (8.6.x/, valkey-9.1.x/ — built from the sources Debian ships, redis 8.6.3
 * in experimental and valkey 9.1.2 in unstable). CI has none and says so; what runs there are the
 * files built from the published definitions (plugins/source-file/test/redis86.test.ts …) and the
 * rewrite rules' unit test (packages/core/test/downgrade.test.ts).
 */
import type { ChildProcess } from 'node:child_process';
import {
  compareDeployments,
  formatDifferences,
  populate,
  type RedisServer,
  serverScope,
  waitFor,
} from '@ferry/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { buildVersion, exited, ferryBackground, runFerry, stateDir as state, streaming, url } from './cli.js';

const servers = serverScope();
const children: ChildProcess[] = [];
afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  await servers.stop();
});

const redis86 = buildVersion('8.6');
const valkey91 = buildVersion('valkey-9.1');
const dbs = [0, 1];

/**
 * Migrates `source` into `target` while `during` writes to the source once the stream runs, then
 * waits for the run's end (synced, checked). Returns its exit code, warnings and stderr.
 */
async function migrateWhile(
  source: RedisServer,
  target: RedisServer,
  during: () => Promise<void>,
): Promise<{ code: number | null; warnings: string[]; stderr: string }> {
  const run = ferryBackground(
    [
      '--source',
      url(source),
      '--target',
      url(target),
      '--state-dir',
      state(),
      '--until-synced',
      '--synced-for',
      '5',
    ],
    children,
  );
  await streaming(run);
  await during();
  const code = await exited(run.child);
  const warnings = run.events.filter((e) => e.event === 'task:warning').map((e) => String(e.message));
  return { code, warnings, stderr: run.stderr() };
}

/** Field TTLs (ms since the epoch, -1 none) of `fields` of hash `key`. */
async function fieldExpiries(s: RedisServer, key: string, fields: string[]): Promise<number[]> {
  const c = s.client();
  const r = (await c.call('HPEXPIRETIME', key, 'FIELDS', String(fields.length), ...fields)) as number[];
  c.disconnect();
  return r;
}

/** Keys of every type, a hash with field TTLs, and (Redis 8.6) a stream with idempotent producers. */
async function load(s: RedisServer, o: { idmp: boolean }): Promise<void> {
  const c = s.client();
  await populate(c, { dbs, randomKeys: 1500 });
  await c.select(0);
  await c.call('HSETEX', 'hf', 'PX', '600000', 'FIELDS', '2', 'f1', 'v1', 'f2', 'v2');
  await c.hset('hf', 'f3', 'v3');
  if (o.idmp) {
    await c.call('XADD', 'events', 'IDMP', 'p1', 'i1', '*', 'a', '1');
    await c.call('XADD', 'events', 'IDMP', 'p1', 'i2', '*', 'b', '2');
  }
  c.disconnect();
}

describe.skipIf(!redis86)(
  `Redis ${redis86 ?? '8.6 (skipped: no Redis 8.6 build here; set FERRY_REDIS_BUILDS)'}`,
  () => {
    it('into Debian 7.0: RDB 13 by the rewrite path, and the stream its Redis 8 commands rewritten as 7.0 holds them; exact, each loss said', async () => {
      const source = await servers.redis({ label: 'redis86', version: '8.6' });
      const target = await servers.redis({ label: 'redis70' });
      await load(source, { idmp: true });
      const check = await runFerry(['check', '--source', url(source), '--target', url(target), '--json']);
      expect(check.stdout).toContain(`Redis ${redis86}`);

      const c = source.client();
      const r = await migrateWhile(source, target, async () => {
        // as the source propagates them: HSETEX … PXAT, HINCRBYFLOAT as HSETEX … KEEPTTL, HPEXPIREAT,
        // HPERSIST, HGETDEL as HDEL, XADD IDMP with its ID (and a duplicate with `*`)
        await c.call('HSETEX', 'h2', 'PX', '600000', 'FIELDS', '1', 'a', '1');
        await c.hincrbyfloat('h3', 'f', 1.5);
        await c.hincrbyfloat('h3', 'f', 1.5);
        await c.call('HPEXPIRE', 'hf', '600000', 'FIELDS', '1', 'f3');
        await c.call('HPERSIST', 'hf', 'FIELDS', '1', 'f1');
        await c.call('HGETDEL', 'hf', 'FIELDS', '1', 'f2');
        const id = await c.call('XADD', 'events', 'IDMP', 'p1', 'i3', '*', 'c', '3');
        expect(await c.call('XADD', 'events', 'IDMP', 'p1', 'i3', '*', 'c', '3')).toBe(id); // a retry: no entry
        // a field whose TTL runs out on the source: its HDEL follows
        await c.call('HSETEX', 'h4', 'PX', '200', 'FIELDS', '2', 'x', '1', 'y', '2');
        await c.call('HPERSIST', 'h4', 'FIELDS', '1', 'y');
        await waitFor(async () => (await c.hexists('h4', 'x')) === 0, {
          what: 'the field to expire on the source',
        });
      });
      c.disconnect();
      expect(r.code, r.stderr).toBe(0);
      expect(r.warnings.join('\n')).toMatch(/hash field expirations need Redis 7\.4/);
      expect(r.warnings.join('\n')).toMatch(/IDMP\) state/);
      expect(formatDifferences(await compareDeployments(source, target, { dbs }))).toBe('');
      const t = target.client();
      expect(await t.hgetall('h4')).toEqual({ y: '2' });
      expect(await t.xlen('events')).toBe(3);
      t.disconnect();
    });

    it('into Redis 8.6 (RESTORE of RDB 13), and Redis 7.0 into it: exact, field TTLs and producers kept', async () => {
      const source = await servers.redis({ label: 'redis86-a', version: '8.6' });
      const target = await servers.redis({ label: 'redis86-b', version: '8.6' });
      await load(source, { idmp: true });
      const c = source.client();
      const r = await migrateWhile(source, target, async () => {
        await c.call('HSETEX', 'h2', 'PX', '600000', 'FIELDS', '1', 'a', '1');
        await c.call('XADD', 'events', 'IDMP', 'p1', 'i3', '*', 'c', '3');
      });
      expect(r.code, r.stderr).toBe(0);
      expect(r.warnings).toEqual([]);
      expect(formatDifferences(await compareDeployments(source, target, { dbs }))).toBe('');
      expect(await fieldExpiries(target, 'hf', ['f1', 'f2', 'f3'])).toEqual(
        await fieldExpiries(source, 'hf', ['f1', 'f2', 'f3']),
      );
      expect(await fieldExpiries(target, 'h2', ['a'])).toEqual(await fieldExpiries(source, 'h2', ['a']));
      // the producers' ids came along: a retry of i1 on the target adds nothing
      const t = target.client();
      const first = (await c.xrange('events', '-', '+'))[0]?.[0];
      expect(await t.call('XADD', 'events', 'IDMP', 'p1', 'i1', '*', 'a', '1')).toBe(first);
      expect(await t.xlen('events')).toBe(3);
      t.disconnect();
      c.disconnect();

      const old = await servers.redis({ label: 'redis70-src' });
      await populate(old.client(), { dbs, randomKeys: 1500 });
      const into = await servers.redis({ label: 'redis86-c', version: '8.6' });
      const up = await runFerry(['migrate', '--source', url(old), '--target', url(into), '--until-synced']);
      expect(up.code, up.stderr).toBe(0);
      expect(formatDifferences(await compareDeployments(old, into, { dbs }))).toBe('');
    });
  },
);

describe.skipIf(!valkey91)(
  `Valkey ${valkey91 ?? '9.1 (skipped: no Valkey 9.1 build here; set FERRY_REDIS_BUILDS)'}`,
  () => {
    it('is read in its own format (VALKEY080): into Debian 7.0 without field TTLs, said; into Valkey 9.1 by RESTORE, with them', async () => {
      const source = await servers.redis({ label: 'valkey91', version: 'valkey-9.1' });
      await load(source, { idmp: false });
      const old = await servers.redis({ label: 'redis70-v' });
      const check = await runFerry(['check', '--source', url(source), '--target', url(old), '--json']);
      expect(check.stdout).toContain(`Valkey ${valkey91}`);
      expect(check.stdout).not.toContain('Redis 7.2.4');

      const c = source.client();
      const during = async () => {
        await c.call('HSETEX', 'h2', 'PX', '600000', 'FIELDS', '1', 'a', '1');
        await c.call('HPEXPIRE', 'hf', '600000', 'FIELDS', '1', 'f3');
        await c.hincrby('h2', 'n', 2);
        await c.call('HSETEX', 'h4', 'PX', '200', 'FIELDS', '2', 'x', '1', 'y', '2');
        await c.call('HPERSIST', 'h4', 'FIELDS', '1', 'y');
        await waitFor(async () => (await c.hexists('h4', 'x')) === 0, {
          what: 'the field to expire on the source',
        });
      };
      const r = await migrateWhile(source, old, during);
      expect(r.code, r.stderr).toBe(0);
      expect(r.warnings.join('\n')).toMatch(/hash field expirations need Redis 7\.4 or Valkey 9\.0/);
      expect(formatDifferences(await compareDeployments(source, old, { dbs }))).toBe('');
      expect(await old.client().hgetall('h4')).toEqual({ y: '2' });

      const same = await servers.redis({ label: 'valkey91-b', version: 'valkey-9.1' });
      const check9 = await runFerry(['check', '--source', url(source), '--target', url(same), '--json']);
      expect(check9.stdout).toContain('RESTORE carries values as they are');
      const r2 = await migrateWhile(source, same, async () => {
        await c.call('HSETEX', 'h5', 'PX', '600000', 'FIELDS', '1', 'a', '1');
      });
      expect(r2.code, r2.stderr).toBe(0);
      expect(formatDifferences(await compareDeployments(source, same, { dbs }))).toBe('');
      // its own format went by RESTORE (Valkey 9 takes VALKEY080 payloads), not the rewrite path
      const stats = await same.client().info('commandstats');
      expect(Number(/cmdstat_restore:calls=(\d+)/.exec(stats)?.[1] ?? 0)).toBeGreaterThan(0); // the rewrite path sends none
      for (const [key, fields] of [
        ['hf', ['f1', 'f2', 'f3']],
        ['h2', ['a', 'n']],
        ['h5', ['a']],
      ] as const)
        expect(await fieldExpiries(same, key, [...fields])).toEqual(
          await fieldExpiries(source, key, [...fields]),
        );
      c.disconnect();
    });
  },
);
