import type { ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  compareDeployments,
  formatDifferences,
  populate,
  type RedisServer,
  serverScope,
  startTwemproxy,
  waitFor,
  writeLoad,
} from '@ferry/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { runFerry, ferryBackground as startInBackground, url } from './cli.js';

const servers = serverScope();
const children: ChildProcess[] = [];
afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  await servers.stop();
});
const server = servers.redis;

/** Runs `ferry migrate …` to its end. */
function ferry(args: string[], timeoutMs = 120_000): ReturnType<typeof runFerry> {
  return runFerry(['migrate', ...args], timeoutMs);
}

/** Starts `ferry migrate … --json` in the background, collecting its events. */
function ferryBackground(args: string[]): ReturnType<typeof startInBackground> {
  return startInBackground(args, children);
}

async function listLengths(s: RedisServer): Promise<Record<string, number>> {
  const c = s.client();
  const out: Record<string, number> = {};
  for (const k of await c.keys('load:*list*')) out[k] = await c.llen(k);
  c.disconnect();
  return out;
}

describe('ferry migrate', () => {
  it('--until-synced moves a live server and exits 0 once caught up', async () => {
    const source = await server({ label: 'source', password: 'sec ret"pw' });
    const target = await server({ label: 'target' });
    const src = source.client();
    await populate(src, { randomKeys: 3000 });
    // a hostile key name: CR, LF and NUL bytes, in the snapshot and in the stream
    const hostile = Buffer.from('evil\r\nkey\0with\r\n*3\r\nbytes');
    await src.set(hostile, 'v1');
    const load = writeLoad(source.client(), { opsPerSec: 1000, durationMs: 4000 });
    const state = mkdtempSync(join(tmpdir(), 'ferry-state-'));
    const run = ferry([
      '--source',
      url(source),
      '--target',
      url(target),
      '--until-synced',
      '--synced-for',
      '6',
      '--state-dir',
      state,
    ]);
    await new Promise((r) => setTimeout(r, 1500));
    await src.rpush(Buffer.concat([hostile, Buffer.from(':list')]), 'a', 'b\r\n', Buffer.from([0]));
    await load;
    const r = await run;
    expect(r.stderr).toContain('done');
    expect(r.code).toBe(0);
    const diffs = await compareDeployments(source, target, { dbs: [0] });
    expect(formatDifferences(diffs)).toBe('');
    expect((await target.client().getBuffer(hostile))?.toString()).toBe('v1');
    src.disconnect();
  });

  it('--until-synced decides from offsets: a quiet source whose PING never comes still completes at once', async () => {
    // repl-ping-replica-period 3600: no PING in this test's life, so a "synced" that waited for the
    // source's next bytes would never come; then the default period (10 s), as users run it
    for (const period of [3600, undefined]) {
      const source = await server({
        label: `quiet-src-${period ?? 'default'}`,
        ...(period ? { config: { 'repl-ping-replica-period': period } } : {}),
      });
      const target = await server({ label: 'quiet-tgt' });
      const src = source.client();
      await populate(src, { randomKeys: 2000 });
      src.disconnect();
      const r = await ferry([
        '--source',
        url(source),
        '--target',
        url(target),
        '--until-synced',
        '--json',
        '--state-dir',
        mkdtempSync(join(tmpdir(), 'ferry-state-')),
      ]);
      expect(r.code, r.stderr).toBe(0);
      const events = r.stdout
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      const start = events.find((e) => e.event === 'shard:start') as { offset: number };
      const syncedAt = events.findIndex((e) => e.event === 'synced');
      const completing = events.findIndex((e) => e.event === 'task:state' && e.to === 'completing');
      expect(syncedAt).toBeGreaterThan(-1);
      expect(completing).toBeGreaterThan(syncedAt);
      const [shard] = (events[syncedAt] as { shards: Array<Record<string, number>> }).shards;
      // the source's own offset, read while streaming, was applied: that is what "synced" means
      expect(shard?.appliedOffset).toBeGreaterThanOrEqual(shard?.sourceOffset as number);
      if (period) {
        // and no stream byte was needed for it: synced at the snapshot's own offset
        expect([shard?.sourceOffset, shard?.receivedOffset, shard?.appliedOffset]).toEqual([
          start.offset,
          start.offset,
          start.offset,
        ]);
      }
      expect(events.some((e) => e.event === 'task:state' && e.to === 'succeeded')).toBe(true);
      expect(formatDifferences(await compareDeployments(source, target, { dbs: [0] }))).toBe('');
    }
  });

  it('resumes with +CONTINUE after being killed with SIGKILL while streaming, applying nothing twice', async () => {
    const source = await server({ label: 'source' });
    const target = await server({ label: 'target' });
    const src = source.client();
    await populate(src, { randomKeys: 2000 });
    const state = mkdtempSync(join(tmpdir(), 'ferry-state-'));
    const args = ['--source', url(source), '--target', url(target), '--state-dir', state];
    const load = writeLoad(source.client(), {
      opsPerSec: 3000,
      durationMs: 9000,
      mix: { lpush: 6, rpop: 2, incr: 4, append: 2, set: 2, hset: 2, multi: 1, rename: 1 },
    });
    const first = ferryBackground(args);
    await waitFor(
      async () => first.events.some((e) => e.event === 'task:state' && e.to === 'incremental_sync'),
      { what: 'the migration to get there', timeoutMs: 60_000 },
    );
    await new Promise((r) => setTimeout(r, 2500));
    first.child.kill('SIGKILL');
    await new Promise((r) => first.child.once('exit', r));
    await new Promise((r) => setTimeout(r, 1000));
    const second = ferryBackground([...args, '--until-synced', '--synced-for', '7']);
    await load;
    const code = await new Promise<number | null>((r) => second.child.once('exit', r));
    expect(code, second.stderr()).toBe(0);
    const starts = second.events.filter((e) => e.event === 'shard:start');
    expect(starts.map((s) => s.mode)).toEqual(['continue']);
    const diffs = await compareDeployments(source, target, { dbs: [0] });
    expect(formatDifferences(diffs)).toBe('');
    expect(await listLengths(target)).toEqual(await listLengths(source));
    src.disconnect();
  });

  it('says clearly what is wrong: password, unreachable host, PSYNC disabled, target not empty', async () => {
    const source = await server({ label: 'source', password: 'right' });
    const target = await server({ label: 'target' });
    const state = mkdtempSync(join(tmpdir(), 'ferry-state-'));
    const common = ['--state-dir', state, '--until-synced'];

    const wrong = await ferry(['--source', url(source, 'wrong'), '--target', url(target), ...common]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(
      /authentication to 127\.0\.0\.1:\d+ failed: wrong password.*\[AUTH_FAILED\]/,
    );
    expect(wrong.stderr).toContain("→ check the source's password");

    const unreachable = await ferry(['--source', 'redis://127.0.0.1:1', '--target', url(target), ...common]);
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toMatch(
      /cannot connect to 127\.0\.0\.1:1: connection refused.*\[CONNECTION_FAILED\]/,
    );

    const locked = await server({ label: 'locked', config: { 'rename-command': ['PSYNC ""', 'SYNC ""'] } });
    const noSync = await ferry(['--source', url(locked), '--target', url(target), ...common]);
    expect(noSync.code).toBe(1);
    expect(noSync.stderr).toMatch(/refuses both PSYNC and SYNC.*\[SYNC_NOT_PERMITTED\]/);
    expect(noSync.stderr).toContain('→ the source must allow PSYNC/SYNC');

    await target.command('SET', 'already', 'here');
    const busy = await ferry(['--source', url(source), '--target', url(target), ...common]);
    expect(busy.code).toBe(1);
    expect(busy.stderr).toMatch(/target 127\.0\.0\.1:\d+ is not empty: db 0 holds 1 keys/);

    const bad = await ferry(['--source', url(source), '--target', url(target), '--db-map', '0=x', ...common]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('db map entry "0=x"');
  });

  it('migrates through SYNC when PSYNC alone is renamed away (no resume possible)', async () => {
    const source = await server({ label: 'source', config: { 'rename-command': ['PSYNC ""'] } });
    const target = await server({ label: 'target' });
    const src = source.client();
    await populate(src, { randomKeys: 500 });
    const load = writeLoad(source.client(), { opsPerSec: 500, durationMs: 2000 });
    const state = mkdtempSync(join(tmpdir(), 'ferry-state-'));
    const r = await ferry([
      '--source',
      url(source),
      '--target',
      url(target),
      '--until-synced',
      '--synced-for',
      '4',
      '--state-dir',
      state,
      '--json',
    ]);
    await load;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('"mode":"sync"');
    expect(formatDifferences(await compareDeployments(source, target, { dbs: [0] }))).toBe('');
    src.disconnect();
  });

  it('--source-topology cluster, and twemproxy from a nutcracker.yml into a twemproxy target', async () => {
    const source = await servers.cluster({ masters: 3 });
    const target = await server({ label: 'target-c' });
    await populate(source.client(), { randomKeys: 1500 });
    const seed = source.seeds[0] as { host: string; port: number };
    const state = mkdtempSync(join(tmpdir(), 'ferry-state-'));
    let r = await ferry([
      '--source-topology',
      'cluster',
      '--source-node',
      `${seed.host}:${seed.port}`,
      '--target',
      url(target),
      '--until-synced',
      '--synced-for',
      '2',
      '--state-dir',
      state,
    ]);
    expect(r.stderr).toContain('done');
    expect(r.code).toBe(0);
    expect(formatDifferences(await compareDeployments(source, target, { dbs: [0] }))).toBe('');

    const backends = await Promise.all([1, 2].map((i) => server({ label: `tw-src${i}` })));
    const proxy = servers.adopt(await startTwemproxy({ backends, pool: 'alpha' }));
    const targets = await Promise.all([1, 2, 3].map((i) => server({ label: `tw-dst${i}` })));
    const into = servers.adopt(await startTwemproxy({ backends: targets, pool: 'beta' }));
    await populate(proxy.client(), {
      randomKeys: 1000,
      catalogue: false,
      serverVersion: backends[0]?.version ?? '',
    });
    r = await ferry([
      '--source-topology',
      'twemproxy',
      '--nutcracker-config',
      proxy.configPath,
      '--pool',
      'alpha',
      '--target',
      `redis://${into.host}:${into.port}`,
      '--target-proxy',
      'twemproxy',
      '--until-synced',
      '--synced-for',
      '2',
      '--state-dir',
      state,
    ]);
    // a proxy target cannot count its keys: Ferry says it did not compare them, not "done"
    expect(r.stderr).toContain('completed; not compared: a twemproxy target cannot count its keys');
    expect(r.code).toBe(0);
    expect(formatDifferences(await compareDeployments(proxy, into, { dbs: [0] }))).toBe('');
    // a codis source without dashboard or nodes: a clear error, exit 2
    r = await ferry(['--source-topology', 'codis', '--target', url(target)]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--codis-dashboard http://host:18080 or --source-node per group master');
  });
});
