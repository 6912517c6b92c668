/**
 * `ferry migrate --source-file`: a backup restored into a new deployment, as an operator runs it —
 * the whole restore, a rerun, an interrupted one resumed, and the misuses (a file that is not an
 * RDB, one that is not there, verify against a file, a multi-db backup into a cluster).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { copyFileSync, cpSync, mkdtempSync, writeFileSync } from 'node:fs';
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
import { bin, runFerry, url } from './cli.js';

const servers = serverScope();
const children: ChildProcess[] = [];
afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  await servers.stop();
});

/** A backup of `s`: SAVE, then its RDB copied aside. */
async function backup(s: RedisServer): Promise<string> {
  await s.command('SAVE');
  const file = join(mkdtempSync(join(tmpdir(), 'ferry-backup-')), 'dump.rdb');
  copyFileSync(s.rdbPath, file);
  return file;
}

const dbs = [0, 1, 2];

/** The user's keys that differ (a refused run leaves its lease epoch, a Ferry key, as every run does). */
async function userDifferences(
  source: RedisServer,
  target: RedisServer,
  o: { dbs: number[] },
): Promise<string> {
  const found = await compareDeployments(source, target, o);
  return formatDifferences(found.filter((d) => !d.targetKey.toString('latin1').startsWith('__ferry:')));
}

describe('ferry migrate --source-file', () => {
  it('restores a backup exactly, says what it checked, and a second run refuses the filled target', async () => {
    const source = await servers.redis({ label: 'source' });
    const target = await servers.redis({ label: 'target' });
    // under 1000 keys: the check before "done" compares every one of them with the file (the
    // catalogue: every type in every encoding, infinite scores, binary and long keys, TTLs)
    await populate(source.client(), { dbs, randomKeys: 100 });
    const file = await backup(source);
    const state = mkdtempSync(join(tmpdir(), 'ferry-state-'));
    const args = ['migrate', '--source-file', file, '--target', url(target), '--state-dir', state];
    const r = await runFerry(args);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('restoring the file');
    const said =
      /ferry: done: task \S+ completed, checked against the file and the target: (\d+) keys in the file and on the target \(db 0, db 1, db 2\); (\d+) sampled keys equal to the file/.exec(
        r.stderr,
      );
    expect(said, r.stderr).not.toBeNull();
    expect(Number(said?.[2])).toBe(Number(said?.[1]));
    expect(formatDifferences(await compareDeployments(source, target, { dbs }))).toBe('');

    // the same command again: the task is finished, and the target now holds the keys
    const again = await runFerry(args);
    expect(again.code).not.toBe(0);
    expect(again.stderr).not.toMatch(/ferry: done/);
    expect(again.stderr).toMatch(/not empty/);
    expect(await userDifferences(source, target, { dbs })).toBe('');
  });

  it('Ctrl-C mid-restore keeps the checkpoint; the same command writes the file again and finishes exact', async () => {
    const source = await servers.redis({ label: 'source' });
    const target = await servers.redis({ label: 'target' });
    await populate(source.client(), { randomKeys: 20_000 });
    const file = await backup(source);
    const state = mkdtempSync(join(tmpdir(), 'ferry-state-'));
    const common = ['--source-file', file, '--target', url(target), '--state-dir', state];
    // slowed down so that the interruption falls inside the restore
    const child = spawn(process.execPath, [bin, 'migrate', ...common, '--rate-keys', '4000'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    await waitFor(async () => Number(await target.command('DBSIZE')) > 2000, {
      what: 'the restore to be under way',
      timeoutMs: 30_000,
    });
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    const part = Number(await target.command('DBSIZE'));
    expect(part).toBeLessThan(20_000);

    const r = await runFerry(['migrate', ...common]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('restoring the file');
    expect(r.stderr).toContain('checked against the file and the target');
    expect(formatDifferences(await compareDeployments(source, target, { dbs: [0] }))).toBe('');
  });

  it('refuses what is not a backup it can restore, before writing, with one clear line each', async () => {
    const target = await servers.redis({ label: 'target' });
    const dir = mkdtempSync(join(tmpdir(), 'ferry-garbage-'));
    const garbage = join(dir, 'notes.txt');
    writeFileSync(garbage, 'hello, this is not a backup\n');
    const newer = join(dir, 'future.rdb');
    writeFileSync(newer, Buffer.concat([Buffer.from('REDIS0099'), Buffer.alloc(16)]));
    const cases: Array<[string[], RegExp]> = [
      [['--source-file', garbage], /is not an RDB file: it starts with "hello, th"/],
      [['--source-file', join(dir, 'missing.rdb')], /cannot be read: ENOENT/],
      [['--source-file', newer], /is RDB version 99: this Ferry reads RDB 1–15/],
      [
        ['--source-file', garbage, '--source', url(target)],
        /give it instead of --source, --source-node and --source-topology/,
      ],
    ];
    for (const [extra, said] of cases) {
      const r = await runFerry(['migrate', ...extra, '--target', url(target), '--state-dir', dir]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(said);
      expect(r.stderr).toContain('[CONFIG_INVALID]');
    }
    const v = await runFerry(['verify', '--source-file', garbage, '--target', url(target)]);
    expect(v.code).toBe(2);
    expect(v.stderr).toContain('a backup file is not one');
    expect(Number(await target.command('DBSIZE'))).toBe(0);
  });

  it('--source-aof replays an appendonlydir and says what it checked', async () => {
    const source = await servers.redis({ label: 'source', config: { appendonly: 'yes' } });
    await populate(source.client(), { dbs, randomKeys: 300 });
    const c = source.client();
    for (let i = 0; i < 200; i++) await c.incr(`n:${i % 3}`);
    c.disconnect();
    const dir = mkdtempSync(join(tmpdir(), 'ferry-aof-'));
    cpSync(join(source.dir, 'appendonlydir'), dir, { recursive: true });
    const target = await servers.redis({ label: 'target' });
    const state = mkdtempSync(join(tmpdir(), 'ferry-state-'));
    const r = await runFerry(['migrate', '--source-aof', dir, '--target', url(target), '--state-dir', state]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(
      /ferry: task \S+ completed; every command of the AOF applied and acknowledged by the target \(\d+ bytes\); the target holds \d+ keys \(db 0: \d+, db 1: \d+, db 2: \d+\); keys not compared/,
    );
    // an AOF's keys are not compared: it is not called "done"
    expect(r.stderr).not.toMatch(/ferry: done/);
    expect(formatDifferences(await compareDeployments(source, target, { dbs }))).toBe('');
    const both = await runFerry([
      'migrate',
      '--source-aof',
      dir,
      '--source-file',
      dir,
      '--target',
      url(target),
    ]);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('--source-file or --source-aof, one of them');
  });

  it('a backup with keys in several dbs into a cluster: refused until --db-map says where they go', async () => {
    const source = await servers.redis({ label: 'source' });
    await populate(source.client(), { dbs: [0, 4], randomKeys: 500, catalogue: false });
    const file = await backup(source);
    const cluster = await servers.cluster({ masters: 3 });
    const seed = cluster.nodes[0] as RedisServer;
    const common = ['migrate', '--source-file', file, '--target', url(seed), '--target-cluster'];
    const refused = await runFerry([...common, '--state-dir', mkdtempSync(join(tmpdir(), 'ferry-state-'))]);
    expect(refused.code, refused.stderr).not.toBe(0);
    expect(refused.stderr).toMatch(/the source has keys in db 4: map them with --db-map/);
    const mapped = await runFerry([
      ...common,
      '--db-map',
      '0=0,4=0+db4:',
      '--conflict',
      'replace',
      '--state-dir',
      mkdtempSync(join(tmpdir(), 'ferry-state-')),
    ]);
    expect(mapped.code, mapped.stderr).toBe(0);
    expect(mapped.stderr).toContain('checked against the file and the target');
  });
});
