import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CheckReport } from '@ferry/core';
import { type RedisServer, serverScope } from '@ferry/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { checkCommand } from '../src/commands/check.js';

const bin = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'ferry.js');
const servers = serverScope();
afterAll(() => servers.stop());
const server = servers.redis;
const url = (s: RedisServer): string => `redis://${s.host}:${s.port}`;

function ferryCheck(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, 'check', ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr });
    });
  });
}

describe('ferry check', () => {
  it('exits 0 / 1 / 2 for pass / warn / fail, with the JSON report when stdout is not a terminal', async () => {
    const source = await server({ label: 'source' });
    const target = await server({ label: 'target' });
    await source.command('SET', 'k', 'v');
    const pass = await ferryCheck(['--source', url(source), '--target', url(target)]);
    expect(pass.code, pass.stdout + pass.stderr).toBe(0);
    const report = JSON.parse(pass.stdout) as CheckReport;
    expect(report.status).toBe('pass');
    // the built-in checks and the file source's (which has nothing to say of a server source)
    expect(report.checks.length).toBe(17);

    await target.command('CONFIG', 'SET', 'maxmemory-policy', 'allkeys-lru');
    const warn = await ferryCheck(['--source', url(source), '--target', url(target), '--json']);
    expect(warn.code).toBe(1);
    expect((JSON.parse(warn.stdout) as CheckReport).results.find((r) => r.status === 'warn')?.checkId).toBe(
      'eviction-policy',
    );

    await target.command('SET', 'already', 'here');
    const fail = await ferryCheck(['--source', url(source), '--target', url(target)]);
    expect(fail.code).toBe(2);
    expect((JSON.parse(fail.stdout) as CheckReport).results.find((r) => r.status === 'fail')?.checkId).toBe(
      'target-empty',
    );

    const bad = await ferryCheck(['--source', url(source), '--target', url(target), '--db-map', 'nope']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('db map entry "nope"');
  });

  it('prints a table with advice on a terminal', async () => {
    const source = await server({ label: 'source' });
    const target = await server({ label: 'target', config: { 'maxmemory-policy': 'volatile-lru' } });
    const chunks: string[] = [];
    const io = {
      out: (t: string) => {
        chunks.push(t);
      },
      err: (t: string) => {
        chunks.push(t);
      },
      write: async () => {},
    };
    const code = await checkCommand(['--source', url(source), '--target', url(target)], io, true);
    expect(code).toBe(1);
    const out = chunks.join('');
    expect(out).toMatch(/^ferry check: 127\.0\.0\.1:\d+ → 127\.0\.0\.1:\d+ \(\d+\.\d s\)/);
    expect(out).toMatch(
      / {2}WARN {2}eviction-policy {6}target 127\.0\.0\.1:\d+ has maxmemory-policy volatile-lru/,
    );
    expect(out).toContain('→ CONFIG SET maxmemory-policy noeviction');
    expect(out).toContain('PASS  connectivity');
    expect(out).toMatch(/WARN: 1 warning\(s\)\. The migration can run/);
  });
});
