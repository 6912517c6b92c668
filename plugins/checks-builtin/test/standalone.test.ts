import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  populate,
  type RedisServer,
  serverScope,
  startRedis,
  startReplica,
  startTwemproxy,
  waitFor,
} from '@ferry/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { endpointOf, of, precheck, show, statusOf } from './helpers.js';

const servers = serverScope();
afterAll(() => servers.stop());
const server = servers.redis;

/**
 * A TCP hop that holds every chunk for `delayMs` each way: a slow network in front of a real
 * server (loopback itself cannot be slowed without slowing every other test).
 */
async function slowProxy(to: RedisServer, delayMs: number): Promise<{ port: number; close(): void }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = tcpConnect(to.port, to.host);
    sockets.add(client).add(upstream);
    const pipe = (from: Socket, into: Socket): void => {
      from.on('data', (d) => setTimeout(() => into.writable && into.write(d), delayMs));
      from.on('close', () => into.destroy());
      from.on('error', () => into.destroy());
    };
    pipe(client, upstream);
    pipe(upstream, client);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

/** Mounts a tmpfs of `size` bytes on a new folder (needs root, as CI is); undefined where it cannot. */
function smallDisk(
  size: number,
): { dir: string; remount(size: number): boolean; unmount(): void } | undefined {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-small-fs-'));
  const mount = (bytes: number): boolean => {
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'tmpfs', dir], { stdio: 'pipe' });
      return true;
    } catch {
      return false;
    }
  };
  const unmount = (): void => {
    execFileSync('umount', [dir], { stdio: 'pipe' });
  };
  if (!mount(size)) return undefined;
  return {
    dir,
    unmount,
    remount: (bytes) => {
      unmount();
      return mount(bytes);
    },
  };
}

const ALL = [
  'connectivity',
  'sync-permission',
  'source-health',
  'version',
  'target-empty',
  'source-keys',
  'target-memory',
  'databases',
  'eviction-policy',
  'target-import-mode',
  'replication-buffers',
  'cluster-coverage',
  'cluster-compat',
  'modules-functions',
  'big-keys',
  'spool-disk',
];

/** Counters that move on any write or fork: a precheck must leave them as they were. */
async function untouched(s: RedisServer): Promise<Record<string, string | undefined>> {
  const persistence = await s.info('persistence');
  const stats = await s.info('stats');
  return {
    dirty: persistence.rdb_changes_since_last_save,
    forks: stats.total_forks,
    bgsave: persistence.rdb_last_bgsave_time_sec,
  };
}

describe('prechecks on standalone servers', () => {
  it('passes every check on a ready pair, and writes nothing, forks nothing', async () => {
    const source = await server({ label: 'source', password: 'p w"d' });
    const target = await server({ label: 'target' });
    await populate(source.client(), { dbs: [0, 1], randomKeys: 500 });
    const before = [await untouched(source), await untouched(target)];
    const report = await precheck({ source: [endpointOf(source)], target: endpointOf(target) });
    expect(report.status, show(report)).toBe('pass');
    expect(report.checks.map((c) => c.id)).toEqual(ALL);
    expect(report.checks.every((c) => c.status === 'pass')).toBe(true);
    expect([await untouched(source), await untouched(target)]).toEqual(before);
  });

  it('fails connectivity with the cause: wrong password, no password, unreachable target', async () => {
    const source = await server({ label: 'source', password: 'right' });
    const target = await server({ label: 'target', password: 'tpw' });

    const wrong = await precheck({
      source: [{ ...endpointOf(source), password: 'wrong' }],
      target: endpointOf(target),
    });
    expect(wrong.status).toBe('fail');
    expect(of(wrong, 'connectivity')[0]?.message).toMatch(
      /authentication to 127\.0\.0\.1:\d+ failed: wrong password/,
    );

    const noPassword = await precheck({
      source: [endpointOf(source)],
      target: { host: target.host, port: target.port },
    });
    const t = of(noPassword, 'connectivity').find((r) => r.message.startsWith('target'));
    expect(t?.status).toBe('fail');
    expect(t?.message).toMatch(/requires a password/);
    expect(t?.details?.cause).toBe('NOAUTH');

    const unreachable = await precheck({
      source: [endpointOf(source)],
      target: { host: '127.0.0.1', port: 1 },
    });
    const u = of(unreachable, 'connectivity').find((r) => r.message.startsWith('target'));
    expect(u?.status).toBe('fail');
    expect(u?.message).toMatch(/connection refused/);
    // what needed the target could not be verified: a warn saying so, never a pass
    expect(statusOf(unreachable, 'target-empty')).toBe('warn');
    expect(of(unreachable, 'target-empty')[0]?.message).toMatch(/could not/);
  });

  it('fails sync-permission for an ACL user without PSYNC and SYNC, and for both commands disabled', async () => {
    const acl = await server({
      label: 'acl',
      aclUsers: [{ name: 'mover', password: 'pw', rules: '~* &* +@all -psync -sync' }],
    });
    const target = await server({ label: 'target' });
    const a = await precheck({
      source: [{ host: acl.host, port: acl.port, username: 'mover', password: 'pw' }],
      target: endpointOf(target),
    });
    expect(statusOf(a, 'sync-permission'), show(a)).toBe('fail');
    expect(of(a, 'sync-permission')[0]?.message).toMatch(/ACL user "mover" may not replicate/);
    expect(of(a, 'sync-permission')[0]?.advice).toContain('ACL SETUSER mover +psync +sync +replconf');

    const locked = await server({ label: 'locked', config: { 'rename-command': ['PSYNC ""', 'SYNC ""'] } });
    const l = await precheck({ source: [endpointOf(locked)], target: endpointOf(target) });
    expect(statusOf(l, 'sync-permission')).toBe('fail');
    expect(of(l, 'sync-permission')[0]?.message).toMatch(/PSYNC and SYNC renamed or disabled/);

    // PSYNC alone renamed: Ferry still migrates through SYNC, but cannot resume: a warning
    const half = await server({ label: 'half', config: { 'rename-command': ['PSYNC ""'] } });
    const h = await precheck({ source: [endpointOf(half)], target: endpointOf(target) });
    expect(statusOf(h, 'sync-permission')).toBe('warn');
    expect(of(h, 'sync-permission')[0]?.message).toMatch(/falls back to SYNC/);
  });

  it('reports a target with keys: fail under "fail", warn under "replace"', async () => {
    const source = await server({ label: 'source' });
    const target = await server({ label: 'target' });
    await source.command('SET', 'a', '1');
    const t = target.client();
    await t.set('k1', 'v');
    await t.set('k2', 'v');
    const failing = await precheck({ source: [endpointOf(source)], target: endpointOf(target) });
    expect(statusOf(failing, 'target-empty')).toBe('fail');
    expect(of(failing, 'target-empty')[0]?.message).toContain('db 0: 2 keys');
    const replacing = await precheck({
      source: [endpointOf(source)],
      target: endpointOf(target),
      options: { conflict: 'replace' },
    });
    expect(statusOf(replacing, 'target-empty')).toBe('warn');
    // keys in a db the migration does not write to are not in the way
    await t.flushdb();
    await t.select(5);
    await t.set('elsewhere', 'v');
    const other = await precheck({ source: [endpointOf(source)], target: endpointOf(target) });
    expect(statusOf(other, 'target-empty')).toBe('pass');
    t.disconnect();
  });

  it('fails a target too small for the data, and warns on an evicting target', async () => {
    const source = await server({ label: 'source' });
    await populate(source.client(), { catalogue: false, randomKeys: 30_000 });
    const small = await server({
      label: 'small',
      config: { maxmemory: '4mb', 'maxmemory-policy': 'allkeys-lru' },
    });
    const r = await precheck({ source: [endpointOf(source)], target: endpointOf(small) });
    expect(statusOf(r, 'target-memory'), show(r)).toBe('fail');
    expect(of(r, 'target-memory')[0]?.message).toMatch(/does not fit/);
    expect(statusOf(r, 'eviction-policy')).toBe('warn');
    expect(of(r, 'eviction-policy')[0]?.message).toContain('allkeys-lru');
    // just enough, but without headroom
    const used = Number((await source.info('memory')).used_memory);
    const tight = await server({
      label: 'tight',
      config: { maxmemory: Math.round(used * 1.25 + (2 << 20)) },
    });
    const w = await precheck({ source: [endpointOf(source)], target: endpointOf(tight) });
    expect(statusOf(w, 'target-memory'), show(w)).toBe('warn');
  });

  it('warns on a small replica output buffer, and on a backlog too small for the write rate', async () => {
    const source = await server({
      label: 'source',
      config: { 'client-output-buffer-limit': 'replica 1mb 512kb 10', 'repl-backlog-size': '16kb' },
    });
    const target = await server({ label: 'target' });
    await source.command('SET', 'x', '1');
    // writes during the check: its rate estimate must see them
    const c = source.client();
    let writing = true;
    const load = (async () => {
      while (writing) {
        await Promise.all(Array.from({ length: 50 }, (_, i) => c.set(`w${i}`, 'x'.repeat(200))));
        await sleep(5);
      }
    })();
    const r = await precheck({ source: [endpointOf(source)], target: endpointOf(target) });
    writing = false;
    await load;
    const found = of(r, 'replication-buffers');
    expect(
      found.some((x) => x.status === 'warn' && /client-output-buffer-limit replica 1\.0 MB/.test(x.message)),
      show(r),
    ).toBe(true);
    expect(found.find((x) => /client-output-buffer-limit/.test(x.message))?.advice).toMatch(
      /CONFIG SET client-output-buffer-limit "replica \d+ \d+ 60"/,
    );
    expect(
      found.some((x) => x.status === 'warn' && /repl-backlog-size 16 KB holds 0\.\d s/.test(x.message)),
      show(r),
    ).toBe(true);
    expect(Number(found[0]?.details?.writeBytesPerSec)).toBeGreaterThan(0);
  });

  it('warns on big keys and on function libraries, naming them', async () => {
    const source = await server({ label: 'source' });
    const target = await server({ label: 'target' });
    await populate(source.client(), {
      catalogue: false,
      randomKeys: 2000,
      bigKeys: { elements: 100_000, types: ['hash'] },
    });
    await source.command(
      'FUNCTION',
      'LOAD',
      "#!lua name=ferrylib\nredis.register_function('ferry_hello', function() return 'hi' end)",
    );
    const r = await precheck({
      source: [endpointOf(source)],
      target: endpointOf(target),
      options: { bigKeyThreshold: 1 << 20 },
    });
    expect(statusOf(r, 'big-keys'), show(r)).toBe('warn');
    expect(of(r, 'big-keys')[0]?.message).toMatch(
      /1 big key\(s\) in all \d+ keys: "big:hash" \(db 0, hash, 100000 elements/,
    );
    expect(statusOf(r, 'modules-functions')).toBe('warn');
    expect(of(r, 'modules-functions')[0]?.message).toContain('ferrylib');
  });

  it('checks source health: loading fails, a fork in progress warns, a primary with a replica warns', async () => {
    const target = await server({ label: 'target' });
    const primary = await server({ label: 'primary' });
    await populate(primary.client(), { catalogue: false, randomKeys: 3000 });
    const replica = await startReplica(primary, { label: 'replica' });
    servers.adopt(replica);
    const viaPrimary = await precheck({ source: [endpointOf(primary)], target: endpointOf(target) });
    expect(statusOf(viaPrimary, 'source-health'), show(viaPrimary)).toBe('warn');
    expect(of(viaPrimary, 'source-health')[0]?.message).toMatch(
      new RegExp(`1 replica\\(s\\) \\(127\\.0\\.0\\.1:${replica.port}\\)`),
    );
    // given the replica too, Ferry reads from it: nothing to warn about
    const viaReplica = await precheck({
      source: [endpointOf(primary), endpointOf(replica)],
      target: endpointOf(target),
    });
    expect(statusOf(viaReplica, 'source-health'), show(viaReplica)).toBe('pass');

    // mid-fork: a BGSAVE slowed down to 1 ms per key
    await primary.command('CONFIG', 'SET', 'rdb-key-save-delay', '1000');
    await primary.command('BGSAVE');
    const forking = await precheck({ source: [endpointOf(primary)], target: endpointOf(target) });
    await primary.command('CONFIG', 'SET', 'rdb-key-save-delay', '0');
    expect(
      of(forking, 'source-health').some(
        (r) => r.status === 'warn' && /middle of a fork \(BGSAVE\)/.test(r.message),
      ),
      show(forking),
    ).toBe(true);

    // INFO is answered between chunks of the load: every KB here, not every 2 MB as by default
    const loading = await server({
      label: 'loading',
      config: { 'key-load-delay': 200, 'loading-process-events-interval-bytes': 1024 },
    });
    const seed = loading.client();
    await populate(seed, { catalogue: false, randomKeys: 20_000 });
    await seed.save();
    seed.disconnect();
    await loading.kill();
    const restart = loading.restart().catch(() => undefined);
    let report: Awaited<ReturnType<typeof precheck>> | undefined;
    for (let i = 0; i < 100; i++) {
      await sleep(50);
      const info = await execFileSafe(['-p', String(loading.port), 'INFO', 'persistence']);
      if (/loading:1/.test(info)) {
        report = await precheck({ source: [endpointOf(loading)], target: endpointOf(target) });
        break;
      }
    }
    await loading.command('CONFIG', 'SET', 'key-load-delay', '0').catch(() => undefined);
    await restart;
    expect(report, 'the server was never seen loading').toBeDefined();
    if (report) {
      expect(statusOf(report, 'source-health'), show(report)).toBe('fail');
      expect(of(report, 'source-health')[0]?.message).toMatch(/is loading its dataset/);
    }
  });

  it('fails when the spool disk has less room than the snapshot, warns under twice', async () => {
    const source = await server({ label: 'source' });
    const target = await server({ label: 'target' });
    await populate(source.client(), { catalogue: false, randomKeys: 20_000 });
    const dataset = Number((await source.info('memory')).used_memory_dataset);
    // a real small filesystem: a tmpfs mounted for the test
    const disk = smallDisk(Math.floor(dataset / 2));
    if (!disk) {
      console.warn(
        'spool-disk: cannot mount a tmpfs here (not root?): the fail and warn cases are not exercised',
      );
      return;
    }
    try {
      mkdirSync(join(disk.dir, 'spool'));
      const r = await precheck({
        source: [endpointOf(source)],
        target: endpointOf(target),
        spoolDir: join(disk.dir, 'spool'),
      });
      expect(statusOf(r, 'spool-disk'), show(r)).toBe('fail');
      expect(of(r, 'spool-disk')[0]?.message).toMatch(/not enough/);
      expect(disk.remount(Math.floor(dataset * 1.5))).toBe(true);
      const w = await precheck({
        source: [endpointOf(source)],
        target: endpointOf(target),
        spoolDir: join(disk.dir, 'spool-not-yet'),
      });
      expect(statusOf(w, 'spool-disk'), show(w)).toBe('warn');
    } finally {
      disk.unmount();
    }
  });

  it('fails a source whose last BGSAVE failed (its disk was full)', async () => {
    const target = await server({ label: 'target' });
    const disk = smallDisk(256 * 1024);
    if (!disk) {
      console.warn(
        'source-health: cannot mount a tmpfs here (not root?): the failed-BGSAVE case is not exercised',
      );
      return;
    }
    // the source keeps its RDB on a 256 KB filesystem: a BGSAVE of a few MB fails with ENOSPC
    const source = await startRedis({ label: 'source', config: { dir: disk.dir } });
    try {
      await populate(source.client(), { catalogue: false, randomKeys: 20_000 });
      await source.command('BGSAVE');
      await waitFor(async () => (await source.info('persistence')).rdb_bgsave_in_progress === '0', {
        what: 'the BGSAVE to end',
      });
      expect((await source.info('persistence')).rdb_last_bgsave_status).toBe('err');
      const r = await precheck({ source: [endpointOf(source)], target: endpointOf(target) });
      expect(statusOf(r, 'source-health'), show(r)).toBe('fail');
      expect(of(r, 'source-health')[0]?.message).toMatch(/last BGSAVE failed/);
    } finally {
      await source.stop();
      disk.unmount();
    }
  });

  it('warns when a node answers slowly (a 15 ms hop each way)', async () => {
    const source = await server({ label: 'source' });
    const target = await server({ label: 'target' });
    const proxy = await slowProxy(target, 15);
    try {
      const r = await precheck({
        source: [endpointOf(source)],
        target: { host: '127.0.0.1', port: proxy.port },
      });
      const t = of(r, 'connectivity').find((x) => x.message.startsWith('target'));
      expect(t?.status, show(r)).toBe('warn');
      expect(t?.message).toMatch(/answers in \d+(\.\d+)? ms \(more than 20 ms\)/);
      expect(Number(t?.details?.rttMs)).toBeGreaterThan(20);
    } finally {
      proxy.close();
    }
  });

  it('fails when the standalone target has fewer databases than the migration needs', async () => {
    const source = await server({ label: 'source' });
    const target = await server({ label: 'target', config: { databases: 2 } });
    await populate(source.client(), { catalogue: false, dbs: [0, 3], randomKeys: 50 });
    const r = await precheck({ source: [endpointOf(source)], target: endpointOf(target) });
    expect(statusOf(r, 'databases'), show(r)).toBe('fail');
    expect(of(r, 'databases')[0]?.message).toBe('the target has 2 databases but source db(s) 3→3 need more');
    const mapped = await precheck({
      source: [endpointOf(source)],
      target: endpointOf(target),
      options: { dbMap: { 0: { db: 0 }, 3: { db: 1 } } },
    });
    expect(statusOf(mapped, 'databases'), show(mapped)).toBe('pass');
  });
});

function execFileSafe(args: string[]): string {
  try {
    return execFileSync('redis-cli', args, { stdio: 'pipe' }).toString();
  } catch {
    return '';
  }
}

describe('a proxy target', () => {
  it('is reached with PING; what needs its servers is a warn saying so, never an error or a dropped connection', async () => {
    const source = await server({ label: 'src-proxy' });
    const backends = await Promise.all([1, 2].map((i) => server({ label: `tw-b${i}` })));
    const proxy = servers.adopt(await startTwemproxy({ backends }));
    const report = await precheck({
      source: [endpointOf(source)],
      target: proxy.endpoint,
      targetProxy: 'twemproxy',
    });
    expect(statusOf(report, 'connectivity')).toBe('pass');
    for (const id of ['target-empty', 'target-memory', 'version', 'eviction-policy', 'databases']) {
      const rs = of(report, id);
      expect(
        rs.map((r) => r.status),
        id,
      ).toEqual(['warn']);
      expect(rs[0]?.message).toMatch(/the target is a twemproxy proxy: ".*" cannot be checked through it/);
    }
    // no check ran out of time or failed to run (a command twemproxy does not know would have reset its connection)
    expect(report.results.filter((r) => /verified nothing|could not/.test(r.message))).toEqual([]);
    expect(await proxy.client().ping()).toBe('PONG');
  });
});
