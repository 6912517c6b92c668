/**
 * Valkey 8.1's import mode on the target (`--target-import-mode`, see @ferry/core's import-mode.ts),
 * against a real Valkey 8.1+ build when this machine has one (FERRY_REDIS_BUILDS/valkey-9.1.x or 8.1.x, see
 * the testkit's resolveRedisBuild); CI has none and says so. What runs everywhere: refusing to run
 * without it when it is required, against Debian's Redis 7.0.
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

// a released Valkey with import mode where there is one, else an 8.1 development build
const wanted = ['valkey-9.1', 'valkey-8.1'].find((w) => buildVersion(w)) ?? 'valkey-9.1';
const build = buildVersion(wanted);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function importMode(s: RedisServer): Promise<string> {
  const c = s.client();
  const [, v] = (await c.config('GET', 'import-mode')) as [string, string];
  c.disconnect();
  return v;
}

/**
 * The loss import mode prevents: a key with a TTL reaches the target; the migration then lags (its
 * process stopped) while the source's application makes the key persistent; the TTL runs out on the
 * target before the PERSIST arrives. Returns the run's exit code, events and stderr.
 */
async function laggingPersist(source: RedisServer, target: RedisServer, mode: 'auto' | 'off') {
  const src = source.client();
  await src.set('plain', 'stays');
  const run = ferryBackground(
    [
      '--source',
      url(source),
      '--target',
      url(target),
      '--state-dir',
      state(),
      '--target-import-mode',
      mode,
      // not completed while the stopped process catches up: synced for longer than the pause
      '--until-synced',
      '--synced-for',
      '3',
    ],
    children,
  );
  await streaming(run);
  await src.set('session', 'kept', 'PX', 1500);
  const tgt = target.client();
  await waitFor(async () => (await tgt.exists('session')) === 1, { what: 'the key to reach the target' });
  run.child.kill('SIGSTOP');
  await sleep(300);
  expect(await src.persist('session')).toBe(1);
  // its TTL runs out on the target (any client sees it gone there, import mode or not)
  await waitFor(async () => (await tgt.exists('session')) === 0, {
    what: 'the TTL to run out on the target',
  });
  await sleep(300);
  run.child.kill('SIGCONT');
  const code = await exited(run.child);
  src.disconnect();
  tgt.disconnect();
  return { code, events: run.events, stderr: run.stderr() };
}

describe.skipIf(!build)(
  `Valkey ${build ?? '(skipped: no Valkey 8.1+ build here; set FERRY_REDIS_BUILDS)'} import mode`,
  () => {
    it('a key whose TTL runs out on the lagging target is kept under import mode, turned off again at the end', async () => {
      const source = await servers.redis({ label: 'source' });
      const target = await servers.redis({ label: 'valkey', version: wanted });
      const r = await laggingPersist(source, target, 'auto');
      expect(r.code, r.stderr).toBe(0);
      const modes = r.events.filter((e) => e.event === 'target:import-mode');
      expect(modes.map((e) => e.on)).toEqual([true, false]);
      expect(String(modes[1]?.message)).toContain('read back with CONFIG GET');
      // the PERSIST found the key, as on a replica: there, without a TTL
      const tgt = target.client();
      expect(await tgt.get('session')).toBe('kept');
      expect(await tgt.pttl('session')).toBe(-1);
      expect(await tgt.keys('__ferry:import-mode:*')).toEqual([]);
      tgt.disconnect();
      expect(await importMode(target)).toBe('no');
    });

    it('without it (--target-import-mode off) the same key is lost there, and the task is not called done', async () => {
      const source = await servers.redis({ label: 'source-off' });
      const target = await servers.redis({ label: 'valkey-off', version: wanted });
      const r = await laggingPersist(source, target, 'off');
      expect(r.code).toBe(1);
      expect(JSON.stringify(r.events)).toContain(
        'the target is missing keys: 2 keys on the source, 1 on the target',
      );
      expect(r.events.some((e) => e.event === 'target:import-mode')).toBe(false);
      const tgt = target.client();
      expect(await tgt.exists('session')).toBe(0);
      tgt.disconnect();
      expect(await importMode(target)).toBe('no');
    });

    it('a run killed under import mode leaves it on; ferry check says whose it is; the next run takes it over and turns it off', async () => {
      const source = await servers.redis({ label: 'source-kill' });
      const target = await servers.redis({ label: 'valkey-kill', version: wanted });
      await source.client().set('a', '1');
      const dir = state();
      const common = ['--source', url(source), '--target', url(target), '--lease-ttl', '2'];
      const first = ferryBackground([...common, '--state-dir', dir], children);
      await streaming(first);
      expect(await importMode(target)).toBe('yes');
      first.child.kill('SIGKILL');
      await exited(first.child);
      expect(await importMode(target)).toBe('yes');

      const check = await runFerry(['check', ...common.slice(0, 4), '--json']);
      const line = (
        JSON.parse(check.stdout) as { results: Array<{ checkId: string; status: string; message: string }> }
      ).results.find((x) => x.checkId === 'target-import-mode');
      expect(line?.status).toBe('warn');
      expect(line?.message).toContain('left on by a run of this task that did not end');

      // past the dead run's lease, the same task again: resumed, taken over, turned off at the end
      await sleep(2500);
      const second = await runFerry(['migrate', ...common, '--state-dir', dir, '--until-synced']);
      expect(second.code, second.stderr).toBe(0);
      expect(second.stderr).toContain('import mode off again on the target');
      expect(await importMode(target)).toBe('no');
    });

    it('a cluster target: every master turned on while the task runs, off again at its end; exact', async () => {
      const source = await servers.redis({ label: 'source-cluster' });
      await populate(source.client(), { randomKeys: 2000 });
      const cluster = await servers.cluster({ masters: 3, version: wanted });
      const masters = await cluster.masters();
      const run = ferryBackground(
        [
          '--source',
          url(source),
          '--target',
          url(masters[0] as RedisServer),
          '--target-cluster',
          '--state-dir',
          state(),
          '--until-synced',
          '--synced-for',
          '2',
        ],
        children,
      );
      await streaming(run);
      expect(await Promise.all(masters.map(importMode))).toEqual(['yes', 'yes', 'yes']);
      // the key that says whose it is, on each master (in a slot that master serves)
      for (const m of masters) {
        const c = m.client();
        expect((await c.keys('__ferry:import-mode:*')).length).toBe(1);
        c.disconnect();
      }
      expect(await exited(run.child), run.stderr()).toBe(0);
      const off = run.events.find((e) => e.event === 'target:import-mode' && e.on === false);
      expect(off?.nodes).toHaveLength(3);
      expect(await Promise.all(masters.map(importMode))).toEqual(['no', 'no', 'no']);
      expect(formatDifferences(await compareDeployments(source, cluster))).toBe('');
    });

    it('ferry check: Ferry turns it on for the task; on already (not by Ferry): a warning, and the run leaves it on', async () => {
      const source = await servers.redis({ label: 'source-check' });
      const target = await servers.redis({ label: 'valkey-check', version: wanted });
      const args = ['--source', url(source), '--target', url(target)];
      const line = async () => {
        const r = await runFerry(['check', ...args, '--json']);
        return (
          JSON.parse(r.stdout) as { results: Array<{ checkId: string; status: string; message: string }> }
        ).results.find((x) => x.checkId === 'target-import-mode');
      };
      expect(await line()).toMatchObject({
        status: 'pass',
        message: expect.stringContaining('Ferry turns import mode on'),
      });
      const t = target.client();
      await t.config('SET', 'import-mode', 'yes');
      expect(await line()).toMatchObject({ status: 'warn', message: expect.stringContaining('already on') });
      const r = await runFerry(['migrate', ...args, '--state-dir', state(), '--until-synced']);
      expect(r.code, r.stderr).toBe(0);
      expect(await importMode(target)).toBe('yes'); // as it found it
      await t.config('SET', 'import-mode', 'no');
      t.disconnect();
    });
  },
);

describe('--target-import-mode on, where there is none', () => {
  it('against Redis 7.0: ferry check fails naming why, and migrate refuses before writing a key', async () => {
    const source = await servers.redis({ label: 'source-on' });
    const target = await servers.redis({ label: 'redis-on' });
    await source.client().set('a', '1');
    const args = ['--source', url(source), '--target', url(target), '--target-import-mode', 'on'];
    const check = await runFerry(['check', ...args, '--json']);
    expect(check.code).toBe(2);
    const line = (
      JSON.parse(check.stdout) as { results: Array<{ checkId: string; status: string; message: string }> }
    ).results.find((x) => x.checkId === 'target-import-mode');
    expect(line?.status).toBe('fail');
    expect(line?.message).toMatch(/is Redis 7\.0\.\d+: it has no import mode \(Valkey 8\.1 and later\)/);
    const run = await runFerry(['migrate', ...args, '--state-dir', state(), '--until-synced']);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain('no import mode');
    const t = target.client();
    expect(await t.exists('a')).toBe(0);
    t.disconnect();

    const garbage = await runFerry([
      'migrate',
      '--source',
      url(source),
      '--target',
      url(target),
      '--target-import-mode',
      'maybe',
    ]);
    expect(garbage.code).not.toBe(0);
    expect(garbage.stderr).toContain('targetImportMode must be one of auto, on, off; got "maybe"');
  });
});
