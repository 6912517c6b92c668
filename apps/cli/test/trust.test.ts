/**
 * The edges where Ferry once said "done" with keys missing, or failed without saying which side or
 * what to do: each case as an operator walks into it, against real servers.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  compareDeployments,
  formatDifferences,
  populate,
  type RedisServer,
  serverScope,
  waitFor,
} from '@ferry/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { bin, ferryBackground, runFerry, streaming, url } from './cli.js';

const servers = serverScope();
const children: ChildProcess[] = [];
afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  await servers.stop();
});
const server = servers.redis;
const ferry = runFerry;
const background = (args: string[]): ReturnType<typeof ferryBackground> => ferryBackground(args, children);

async function interrupt(child: ChildProcess): Promise<number | null> {
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  child.kill('SIGINT');
  return exited;
}

async function dbsizes(s: RedisServer): Promise<number[]> {
  const c = s.client();
  const out: number[] = [];
  for (let db = 0; db < 16; db++) {
    await c.select(db);
    out.push(await c.dbsize());
  }
  c.disconnect();
  return out;
}

describe('ferry says done only when the target has it', () => {
  it('refuses to resume a checkpoint made with other settings, and --fresh starts over', async () => {
    const source = await server({ label: 'source' });
    const target = await server({ label: 'target' });
    const src = source.client();
    await populate(src, { randomKeys: 3000 });
    for (let i = 0; i < 500; i++) await src.set(`z:${i}`, `v${i}`);
    const state = mkdtempSync(join(tmpdir(), 'ferry-state-'));
    const common = ['--source', url(source), '--target', url(target), '--state-dir', state];
    // a first run copies the z: keys only, then Ctrl-C keeps its checkpoint
    const first = background([...common, '--filter', 'z:*']);
    await streaming(first);
    expect(await interrupt(first.child)).toBe(130);
    // the z: keys only (besides Ferry's own lease epoch, kept between runs)
    expect((await target.client().keys('*')).filter((k) => !k.startsWith('__ferry:')).length).toBe(500);

    // the same command without the filter: before, it resumed with +CONTINUE and said "done"
    const other = await ferry(['migrate', ...common, '--until-synced', '--synced-for', '1']);
    expect(other.stderr).not.toMatch(/ferry: done/);
    expect(other.stderr).toContain('other settings (filter: {"include":[{"glob":"z:*"}]} → (none))');
    expect(other.stderr).toContain('[CHECKPOINT_MISMATCH]');
    expect(other.stderr).toContain('--fresh');
    expect(other.code).toBe(1);

    // --fresh drops the checkpoint and follows the conflict policy: "fail" refuses the non-empty target…
    const refused = await ferry(['migrate', ...common, '--fresh', '--until-synced', '--synced-for', '1']);
    expect(refused.stderr).toMatch(/is not empty/);
    expect(refused.code).not.toBe(0);
    // …"replace" writes everything, and the done line says what it checked
    const fresh = await ferry([
      'migrate',
      ...common,
      '--fresh',
      '--conflict',
      'replace',
      '--until-synced',
      '--synced-for',
      '1',
    ]);
    expect(fresh.code, fresh.stderr).toBe(0);
    const total = await src.dbsize();
    // the target held the first run's keys when this one started: the claim says so
    expect(fresh.stderr).toContain(
      `checked against both servers: ${total} source keys, ${total} on the target, which held other keys when the task started`,
    );
    expect(fresh.stderr).toMatch(/\d+ sampled keys equal/);
    expect(formatDifferences(await compareDeployments(source, target, { dbs: [0] }))).toBe('');
    src.disconnect();
  });

  it('a target that came back empty is never reported done', async () => {
    const source = await server({ label: 'source' });
    const target = await server({ label: 'target' }); // no persistence: a restart loses everything
    const src = source.client();
    await populate(src, { randomKeys: 2000 });
    const state = mkdtempSync(join(tmpdir(), 'ferry-state-'));
    const common = ['--source', url(source), '--target', url(target), '--state-dir', state];
    const run = background(common);
    await streaming(run);
    await target.kill();
    await target.restart();
    for (let i = 0; i < 100; i++) await src.set(`after:${i}`, i);
    await new Promise((r) => setTimeout(r, 3000));
    await interrupt(run.child);
    const again = await ferry(['migrate', ...common, '--until-synced', '--synced-for', '1']);
    const diffs = formatDifferences(await compareDeployments(source, target, { dbs: [0] }));
    if (again.code === 0) {
      // said done: then the target has everything
      expect(diffs).toBe('');
    } else {
      expect(again.stderr).not.toMatch(/ferry: done/);
      expect(again.stderr).toContain('[NOT_IN_SYNC]');
      expect(again.stderr).toMatch(/keys on the source, \d+ on the target/);
    }
    src.disconnect();
  });

  it("the user's keys under Ferry's reserved prefix: the precheck fails, nothing says done, verify sees them, another prefix moves them", async () => {
    const source = await server({ label: 'source' });
    const target = await server({ label: 'target' });
    const src = source.client();
    await populate(src, { randomKeys: 500 });
    await src.set('__ferry:userdata', 'mine');
    await src.set('__ferry:ckpt:mine', 'also mine');
    const state = mkdtempSync(join(tmpdir(), 'ferry-state-'));
    const common = ['--source', url(source), '--target', url(target), '--state-dir', state];
    const check = await ferry(['check', ...common, '--json']);
    expect(check.code).toBe(2);
    type Report = { results: Array<{ checkId: string; status: string; message: string; advice?: string }> };
    const failed = (JSON.parse(check.stdout) as Report).results.find((r) => r.status === 'fail');
    expect(failed?.checkId).toBe('source-keys');
    expect(failed?.message).toMatch(
      /under Ferry's reserved prefix "__ferry:" \("__ferry:(userdata|ckpt:mine)" in db 0\)/,
    );
    expect(failed?.advice).toContain('--reserved-prefix');

    const r = await ferry(['migrate', ...common, '--until-synced', '--synced-for', '1']);
    expect(r.stderr).not.toMatch(/ferry: done/);
    expect(r.stderr).toContain('[NOT_IN_SYNC]');
    expect(r.code).toBe(1);
    const v = await ferry(['verify', ...common, '--rounds', '1']);
    expect(v.code, v.stdout).toBe(1);
    expect(v.stdout).toMatch(/missing db 0 "__ferry:userdata"/);
    expect(v.stdout).toMatch(/missing db 0 "__ferry:ckpt:mine"/);

    const moved = await ferry([
      'migrate',
      ...common,
      '--reserved-prefix',
      '__f2:',
      '--fresh',
      '--conflict',
      'replace',
      '--until-synced',
      '--synced-for',
      '1',
    ]);
    expect(moved.code, moved.stderr).toBe(0);
    expect(await target.client().get('__ferry:userdata')).toBe('mine');
    expect(await target.client().get('__ferry:ckpt:mine')).toBe('also mine');
    const again = await ferry(['verify', ...common, '--reserved-prefix', '__f2:', '--rounds', '1']);
    expect(again.code, again.stdout).toBe(0);
    src.disconnect();
  });
});

/** Counters and lists of known sequences, written on the source until stopped. */
function sequenceLoad(s: RedisServer): { stop(): Promise<number> } {
  const c = s.client();
  let running = true;
  let n = 0;
  const done = (async () => {
    while (running) {
      const p = c.pipeline();
      for (let i = 0; i < 20; i++, n++) {
        p.incr(`counter:${n % 7}`);
        p.rpush(`seq:${n % 5}`, String(n));
      }
      await p.exec();
      await new Promise((r) => setTimeout(r, 20));
    }
    c.disconnect();
    return n;
  })();
  return {
    stop: async () => {
      running = false;
      return done;
    },
  };
}

describe('one writer per task', () => {
  it('a second and a third process are refused while one holds the lease; one paused past it cannot write after another took over', async () => {
    const source = await server({ label: 'source' });
    const target = await server({ label: 'target' });
    await populate(source.client(), { randomKeys: 1000 });
    const stateA = mkdtempSync(join(tmpdir(), 'ferry-state-'));
    const common = ['--source', url(source), '--target', url(target), '--lease-ttl', '3'];
    const load = sequenceLoad(source);
    const a = background([...common, '--state-dir', stateA]);
    const aExit = new Promise<number | null>((r) => a.child.once('exit', (code) => r(code)));
    await streaming(a);

    // two more at once, from other state folders (another machine, as far as the lock knows)
    const [b, c] = await Promise.all([
      ferry(['migrate', ...common, '--state-dir', mkdtempSync(join(tmpdir(), 'ferry-state-'))], 30_000),
      ferry(['migrate', ...common, '--state-dir', mkdtempSync(join(tmpdir(), 'ferry-state-'))], 30_000),
    ]);
    for (const r of [b, c]) {
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toMatch(
        /is already running in another process: \S+:\d+:\w+ holds its lease on the target/,
      );
      expect(r.stderr).toContain('[LEASE_HELD]');
    }
    // the same folder: the local lock says it at once
    const d = await ferry(['migrate', ...common, '--state-dir', stateA], 30_000);
    expect(d.code).toBe(1);
    expect(d.stderr).toMatch(/already running on this machine \(process \d+/);

    // A paused past its lease; E takes over (a full sync, its own folder), then A wakes up
    a.child.kill('SIGSTOP');
    await new Promise((r) => setTimeout(r, 4500));
    const e = ferry(
      [
        'migrate',
        ...common,
        '--state-dir',
        mkdtempSync(join(tmpdir(), 'ferry-state-')),
        '--conflict',
        'replace',
        // E must not complete while the load still writes (its check would rightly refuse):
        // synced for longer than the load runs after E started
        '--until-synced',
        '--synced-for',
        '6',
      ],
      120_000,
    );
    await new Promise((r) => setTimeout(r, 4000));
    // the load stops while A still sleeps: what it wrote meanwhile waits in A's link, and A tries
    // to apply it when it wakes
    const written = await load.stop();
    a.child.kill('SIGCONT');
    expect(await aExit).not.toBe(0);
    expect(JSON.stringify(a.events)).toContain('LEASE_HELD');
    const ended = await e;
    expect(ended.code, ended.stderr).toBe(0);
    expect(ended.stderr).toContain('checked against both servers');

    // nothing twice, nothing missing
    const tc = target.client();
    const sc = source.client();
    for (let i = 0; i < 7; i++) expect(await tc.get(`counter:${i}`)).toBe(await sc.get(`counter:${i}`));
    let total = 0;
    for (let j = 0; j < 5; j++) {
      const list = await tc.lrange(`seq:${j}`, 0, -1);
      const expected = Array.from({ length: Math.ceil((written - j) / 5) }, (_, k) => String(j + 5 * k));
      expect(list).toEqual(expected);
      total += list.length;
    }
    expect(total).toBe(written);
    expect(formatDifferences(await compareDeployments(source, target, { dbs: [0] }))).toBe('');
    tc.disconnect();
    sc.disconnect();
  });

  it('one paused past its lease while another finished the task stops when it wakes, and writes nothing over the cut-over target', async () => {
    const source = await server({ label: 'source' });
    const target = await server({ label: 'target' });
    const sc = source.client();
    await populate(sc, { randomKeys: 300 });
    for (let i = 0; i < 200; i++) await sc.set(`app:${i}`, `source-${i}`);
    const common = ['--source', url(source), '--target', url(target), '--lease-ttl', '2'];
    const a = background([...common, '--state-dir', mkdtempSync(join(tmpdir(), 'ferry-state-'))]);
    const aExit = new Promise<number | null>((r) => a.child.once('exit', (code) => r(code)));
    await streaming(a);

    // A paused past its lease; E takes over and completes (its completion removes the lease's
    // keys: nothing of Ferry stays on the target)
    a.child.kill('SIGSTOP');
    await new Promise((r) => setTimeout(r, 3000));
    const e = await ferry(
      [
        'migrate',
        ...common,
        '--state-dir',
        mkdtempSync(join(tmpdir(), 'ferry-state-')),
        '--conflict',
        'replace',
        '--until-synced',
        '--synced-for',
        '1',
      ],
      120_000,
    );
    expect(e.code, e.stderr).toBe(0);
    // the cutover: the application writes to the target now, and the source is gone from its view
    const tc = target.client();
    for (let i = 0; i < 100; i++) await tc.set(`app:${i}`, `after-cutover-${i}`);
    for (let i = 100; i < 200; i++) await tc.del(`app:${i}`);
    const keysAfterCutover = await tc.dbsize();

    // A wakes: the lease's keys are gone, the target did not restart — taken over and finished, not
    // lost with the target's data: A stops and writes nothing (before, it took the lease again and
    // wrote its snapshot over the application's writes)
    a.child.kill('SIGCONT');
    expect(await aExit).not.toBe(0);
    const said = JSON.stringify(a.events);
    expect(said).toContain('LEASE_HELD');
    expect(said).toContain('another process most likely took the task over and finished it');
    expect(said).not.toContain('writes its snapshot again');
    await new Promise((r) => setTimeout(r, 1000));
    for (let i = 0; i < 100; i++) expect(await tc.get(`app:${i}`)).toBe(`after-cutover-${i}`);
    for (let i = 100; i < 200; i++) expect(await tc.exists(`app:${i}`)).toBe(0);
    expect(await tc.dbsize()).toBe(keysAfterCutover);
    expect(await tc.keys('__ferry:*')).toEqual([]);
    tc.disconnect();
    sc.disconnect();
  });
});

describe('Ctrl-C and the terminal', () => {
  it('Ctrl-C stops at a checkpoint without waiting for the source, and the progress fits the terminal', async () => {
    // the source pings its replicas once a minute: a stop that waited for the next bytes would hang
    const source = await server({ label: 'source', config: { 'repl-ping-replica-period': 60 } });
    const target = await server({ label: 'target' });
    await populate(source.client(), { randomKeys: 500 });
    const state = mkdtempSync(join(tmpdir(), 'ferry-state-'));
    const cmd = [
      process.execPath,
      bin,
      'migrate',
      '--source',
      url(source),
      '--target',
      url(target),
      '--state-dir',
      state,
    ]
      .map((a) => `'${a.replace(/'/g, "'\\''")}'`)
      .join(' ');
    // a real terminal (util-linux script gives the command a pty), narrower than the streaming
    // line: 64 columns, so that fitting is tested whatever the offsets' widths
    const child = spawn('script', ['-qfec', `stty cols 64 rows 24; exec ${cmd}`, '/dev/null'], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    children.push(child);
    let screen = '';
    child.stdout?.on('data', (d: Buffer) => {
      screen += d.toString();
    });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    await waitFor(async () => (screen.match(/streaming {2}lag/g) ?? []).length >= 3, {
      what: 'the progress display to stream',
      timeoutMs: 60_000,
    });
    const offset = async (): Promise<string> =>
      /master_repl_offset:(\d+)/.exec(String(await source.command('INFO', 'replication')))?.[1] ?? '';
    const before = await offset();
    child.stdin?.write('\x03'); // Ctrl-C, as the terminal sends it
    const code = await exited;
    expect(screen).toContain('stopped at the checkpoint');
    expect(code, screen).toBe(130);
    // it exited before the source sent anything more (no PING had to come first)
    expect(await offset()).toBe(before);
    // every progress line redrawn in place fits the terminal (a wrapped one breaks the redraw)
    const lines = screen
      // biome-ignore lint/suspicious/noControlCharactersInRegex: the terminal's escape sequences are what is stripped
      .replace(/\x1b\[[0-9;]*[A-Za-z]/g, '')
      .split(/\r?\n|\r/)
      .filter((l) => l.startsWith('standalone: '));
    expect(lines.length).toBeGreaterThanOrEqual(3);
    const wide = lines.filter((l) => [...l].length > 64);
    expect(wide).toEqual([]);
    // and the stop kept a checkpoint the same command resumes from
    const again = await ferry([
      'migrate',
      '--source',
      url(source),
      '--target',
      url(target),
      '--state-dir',
      state,
      '--until-synced',
      '--synced-for',
      '1',
    ]);
    expect(again.stderr).toContain('(+CONTINUE)');
    expect(again.code, again.stderr).toBe(0);
  });
});

describe('bad input: one line naming what is wrong, no hang, nothing written', () => {
  it('refuses an unclosed glob and a db the target does not have before any write', async () => {
    const source = await server({ label: 'source' });
    const target = await server({ label: 'target' });
    const src = source.client();
    await populate(src, { randomKeys: 200 });
    const state = mkdtempSync(join(tmpdir(), 'ferry-state-'));
    const common = ['--source', url(source), '--target', url(target), '--state-dir', state, '--until-synced'];
    const glob = await ferry(['migrate', ...common, '--filter', '**[[']);
    expect(glob.code).toBe(2);
    expect(glob.stderr).toMatch(/filter glob "\*\*\[\[": "\[" at position 3 is never closed/);
    expect(glob.stderr).not.toMatch(/done|\n\s+at /);
    const dbmap = await ferry(['migrate', ...common, '--db-map', '0=99']);
    expect(dbmap.code).toBe(2);
    expect(dbmap.stderr).toMatch(/sends source db 0 to db 99, which the target .* does not have/);
    expect(await dbsizes(target)).toEqual(new Array(16).fill(0));
    const regex = await ferry([
      'verify',
      '--source',
      url(source),
      '--target',
      url(target),
      '--filter',
      'regex:(',
    ]);
    expect(regex.code).toBe(2);
    expect(regex.stderr).toMatch(/filter regex "\(" is invalid/);
    src.disconnect();
  });

  it('names the side whose password is wrong or missing, and verify exits instead of hanging', async () => {
    const source = await server({ label: 'source', password: 'src-pw' });
    const target = await server({ label: 'target', password: 'tgt-pw' });
    const state = mkdtempSync(join(tmpdir(), 'ferry-state-'));
    const cases: Array<{ src: string; tgt: string; side: 'source' | 'target'; why: RegExp }> = [
      {
        src: url(source, ''),
        tgt: url(target),
        side: 'source',
        why: /requires a password and none was given/,
      },
      { src: url(source, 'nope'), tgt: url(target), side: 'source', why: /wrong password/ },
      {
        src: url(source),
        tgt: url(target, ''),
        side: 'target',
        why: /requires a password and none was given/,
      },
      { src: url(source), tgt: url(target, 'nope'), side: 'target', why: /wrong password/ },
    ];
    for (const c of cases) {
      for (const cmd of ['migrate', 'verify', 'check'] as const) {
        const r = await ferry([cmd, '--source', c.src, '--target', c.tgt, '--state-dir', state], 30_000);
        const what = `${cmd} ${c.side} ${c.why}: ${r.stderr}${r.stdout}`;
        expect(r.code, what).not.toBe(0);
        expect(r.code, what).not.toBeNull(); // not killed by the timeout
        expect(r.ms, what).toBeLessThan(25_000);
        expect(`${r.stderr}${r.stdout}`, what).not.toMatch(/\n\s+at |ReplyError/);
        if (cmd === 'check') {
          expect(r.stdout + r.stderr, what).toMatch(c.why);
          continue;
        }
        expect(r.stderr, what).toMatch(new RegExp(`the ${c.side}: authentication to .* failed`));
        expect(r.stderr, what).toMatch(c.why);
        expect(r.stderr, what).toContain(`check the ${c.side}'s password`);
        expect(r.stderr, what).not.toContain(c.side === 'target' ? '--source-node' : '--target redis');
      }
    }
  });
});

/** A small file system of its own (tmpfs), so that its disk can fill up; undefined when not root. */
function smallDisk(mb: number): { dir: string; release(): void } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'ferry-disk-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${mb}m`, 'tmpfs', dir]);
  return {
    dir,
    release: () => {
      execFileSync('umount', ['-l', dir]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function spoolFiles(state: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else if (/\.(rdb|aof)$/.test(e.name)) out.push(join(d, e.name));
    }
  };
  walk(state);
  return out;
}

// mounting a small file system needs root (CI runs as root); elsewhere these say why they skip
describe.skipIf(process.getuid?.() !== 0)('disk is a resource like memory (needs root for a tmpfs)', () => {
  it('refuses a snapshot the spool disk cannot hold, and stops cleanly when the disk fills up mid-way', async () => {
    const source = await server({
      label: 'source',
      config: { 'repl-diskless-sync': 'yes', 'repl-diskless-sync-delay': 0 },
    });
    const target = await server({ label: 'target' });
    const src = source.client();
    // 24 MB of values that do not compress
    for (let i = 0; i < 24; i++) {
      const p = src.pipeline();
      for (let j = 0; j < 100; j++) p.set(`big:${i}:${j}`, randomBytes(10_000));
      await p.exec();
    }
    const common = ['--source', url(source), '--target', url(target)];
    const tiny = smallDisk(8) as { dir: string; release(): void };
    try {
      const r = await ferry(['migrate', ...common, '--state-dir', tiny.dir, '--until-synced'], 60_000);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toMatch(
        /the spool folder .* has [\d.]+ \w+ free and the snapshot of standalone .* needs about/,
      );
      expect(r.stderr).toContain('[DISK_FULL]');
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(spoolFiles(tiny.dir)).toEqual([]);
    } finally {
      tiny.release();
    }

    // enough at the start; then something else takes the space while the snapshot arrives
    await source.command('CONFIG', 'SET', 'rdb-key-save-delay', '2000');
    const disk = smallDisk(40) as { dir: string; release(): void };
    try {
      const run = ferry(['migrate', ...common, '--state-dir', disk.dir, '--until-synced'], 90_000);
      await waitFor(async () => spoolFiles(disk.dir).length > 0, {
        what: 'the spool to start',
        timeoutMs: 30_000,
      });
      execFileSync('fallocate', ['-l', '36M', join(disk.dir, 'filler')]);
      const r = await run;
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toMatch(/the disk under the spool folder .* is full/);
      expect(r.stderr).toContain('[DISK_FULL]');
      expect(r.stderr).not.toMatch(/\n\s+at |ENOSPC: no space/);
      expect(spoolFiles(disk.dir), 'the spool files are removed').toEqual([]);
      // space again: the same command starts clean and finishes
      rmSync(join(disk.dir, 'filler'));
      await source.command('CONFIG', 'SET', 'rdb-key-save-delay', '0');
      const again = await ferry([
        'migrate',
        ...common,
        '--state-dir',
        disk.dir,
        '--until-synced',
        '--synced-for',
        '1',
      ]);
      expect(again.code, again.stderr).toBe(0);
      expect(formatDifferences(await compareDeployments(source, target, { dbs: [0] }))).toBe('');
    } finally {
      disk.release();
    }
    src.disconnect();
  });
});
