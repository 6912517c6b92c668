/**
 * Plugins loaded by name, as a third party ships them: the example Sentinel topology and the example
 * persistence check, built against the SDK alone, loaded with --plugin and FERRY_PLUGINS from where
 * the user runs ferry (the repository's root here, where they are installed).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  compareDeployments,
  formatDifferences,
  populate,
  serverScope,
  startReplica,
  waitFor,
} from '@ferry/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { bin, url } from './cli.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const SENTINEL = '@ferry/example-source-sentinel';
const PERSISTENCE = '@ferry/example-check-target-persistence';
const HASH_TAGS = '@ferry/example-transform-hash-tags';

function ferry(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [bin, ...args],
      { cwd: root, env: { ...process.env, ...env }, timeout: 120_000, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => {
        const e = err as (Error & { code?: number; killed?: boolean }) | null;
        resolve({ code: e ? (e.killed ? null : (e.code ?? null)) : 0, stdout, stderr });
      },
    );
  });
}

const servers = serverScope();
afterAll(() => servers.stop());

describe('plugins by name', () => {
  it("a topology plugin's options are flags in --help, with no edit to the CLI", async () => {
    const without = await ferry(['migrate', '--help']);
    expect(without.stdout).not.toContain('--sentinel');
    const r = await ferry(['migrate', '--plugin', SENTINEL, '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /--source-topology T\s+standalone \(default\) \| cluster \| twemproxy \| codis \| file \| sentinel/,
    );
    expect(r.stdout).toMatch(/--sentinel HOST:PORT\s+sentinel: a Sentinel watching the source; repeatable/);
    expect(r.stdout).toMatch(/--sentinel-master NAME\s+sentinel: the name the Sentinels know the source by/);
    expect(r.stdout).toMatch(/--sentinel-password PW\s+sentinel: the Sentinels' own password/);
    // the same through the environment
    const env = await ferry(['check', '--help'], { FERRY_PLUGINS: `${SENTINEL},${PERSISTENCE}` });
    expect(env.stdout).toContain('--sentinel-master NAME');
  });

  it('a plugin that is not there, or is not a plugin: one clear error, exit 2', async () => {
    const missing = await ferry(['migrate', '--plugin', '@ferry/no-such-plugin', '--help']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(
      /plugin "@ferry\/no-such-plugin" was not found from .*install it where you run ferry/,
    );
    const notOne = await ferry(['check', '--plugin', '@ferry/errors', '--help']);
    expect(notOne.code).toBe(2);
    expect(notOne.stderr).toContain('plugin "@ferry/errors" exports no plugin');
    const flagless = await ferry(['check', '--plugin']);
    expect(flagless.code).toBe(2);
    expect(flagless.stderr).toContain('--plugin needs a package name or a path');
  });

  it('migrates through the Sentinel plugin (its flag selects it) and prechecks with the check plugin', async () => {
    const primary = await servers.redis({ label: 'primary' });
    const replica = servers.adopt(await startReplica(primary, { label: 'replica' }));
    await waitFor(async () => (await replica.info('replication')).master_link_status === 'up', {
      what: 'the replica to be in sync',
    });
    const sentinel = await servers.redis({
      label: 'sentinel',
      sentinel: { name: 'orders', master: primary.endpoint },
    });
    await waitFor(
      async () => {
        const seen = (await sentinel.command('SENTINEL', 'replicas', 'orders')) as string[][];
        return seen[0]?.join(' ').includes('master-link-status ok') === true;
      },
      { what: 'the Sentinel to see the replica in sync', timeoutMs: 30_000 },
    );
    const c = primary.client();
    await populate(c, { dbs: [0, 1], randomKeys: 1500 });
    c.disconnect();
    const target = await servers.redis({ label: 'target' }); // persists nothing (the testkit's default)
    const source = ['--sentinel', `${sentinel.host}:${sentinel.port}`, '--sentinel-master', 'orders'];

    const check = await ferry([
      'check',
      '--plugin',
      PERSISTENCE,
      '--plugin',
      SENTINEL,
      ...source,
      '--target',
      url(target),
      '--json',
    ]);
    const report = JSON.parse(check.stdout) as {
      results: Array<{ checkId: string; status: string; message: string }>;
    };
    const persistence = report.results.find((r) => r.checkId === 'target-persistence');
    expect(persistence?.status, check.stderr).toBe('warn');
    expect(persistence?.message).toContain('persists nothing');
    // the topology's own discovery ran: the checks read the shard it found (its replica included)
    expect(report.results.some((r) => r.message.includes(`${replica.host}:${replica.port}`))).toBe(true);

    const state = mkdtempSync(join(tmpdir(), 'ferry-state-'));
    const r = await ferry(
      ['migrate', ...source, '--target', url(target), '--until-synced', '--state-dir', state],
      { FERRY_PLUGINS: SENTINEL },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(
      new RegExp(`migrating sentinel ${sentinel.host}:${sentinel.port} masterName orders → `),
    );
    expect(r.stderr).toMatch(/ferry: done/);
    expect(formatDifferences(await compareDeployments(primary, target, { dbs: [0, 1] }))).toBe('');
  });

  it('a transform plugin: --transform renames every key on the way, and verify compares through it', async () => {
    const source = await servers.redis({ label: 'tsource' });
    const target = await servers.redis({ label: 'ttarget' });
    const c = source.client();
    for (let u = 0; u < 300; u++) await c.hset(`user:${u}:profile`, 'name', `n${u}`);
    await c.set('plain', '1');
    c.disconnect();
    const help = await ferry(['migrate', '--plugin', HASH_TAGS, '--help']);
    expect(help.stdout).toMatch(
      /--transform ID\s+apply a key transform plugin.*\n\s+repeatable, in order: hash-tags \(a:b:rest → \{a:b\}:rest\)/,
    );
    const unknown = await ferry([
      'migrate',
      '--source',
      url(source),
      '--target',
      url(target),
      '--transform',
      'nope',
    ]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('no transform "nope" is registered (have: none)');
    const state = mkdtempSync(join(tmpdir(), 'ferry-state-'));
    const args = [
      '--plugin',
      HASH_TAGS,
      '--transform',
      'hash-tags',
      '--source',
      url(source),
      '--target',
      url(target),
    ];
    const r = await ferry(['migrate', ...args, '--until-synced', '--state-dir', state]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/ferry: done/);
    expect(await target.command('HGET', '{user:7}:profile', 'name')).toBe('n7');
    expect(Number(await target.command('EXISTS', 'user:7:profile'))).toBe(0);
    const v = await ferry(['verify', ...args]);
    expect(v.code, v.stdout + v.stderr).toBe(0);
    expect(v.stdout).toContain(
      'source → target only: target keys were not traced back to the source: transform hash-tags has no inverse',
    );
    expect(v.stdout).toContain('no difference: every source key is on the target as it is on the source');
    // without the transform the same verify sees every key missing under its old name
    const plain = await ferry(['verify', '--source', url(source), '--target', url(target)]);
    expect(plain.code).toBe(1);
    expect(plain.stdout).toMatch(/300 difference|missing 300/);
  });
});
