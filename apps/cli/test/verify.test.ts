import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { populate, type RedisServer, serverScope, startTwemproxy } from '@ferry/testkit';
import { afterAll, describe, expect, it } from 'vitest';

const bin = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'ferry.js');
const servers = serverScope();
afterAll(() => servers.stop());
const url = (s: RedisServer): string => `redis://${s.host}:${s.port}`;

function ferryVerify(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, 'verify', ...args], { timeout: 120_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr });
    });
  });
}

describe('ferry verify', () => {
  it('exits 0 on equal servers, 1 with the differences listed and exported, 2 on bad input', async () => {
    const [a, b] = await Promise.all([
      servers.redis({ label: 'source' }),
      servers.redis({ label: 'target' }),
    ]);
    await Promise.all([
      populate(a.client(), { randomKeys: 1000 }),
      populate(b.client(), { randomKeys: 1000 }),
    ]);
    const same = await ferryVerify(['--source', url(a), '--target', url(b), '--rounds', '1']);
    expect(same.code, same.stdout + same.stderr).toBe(0);
    expect(same.stdout).toContain('no difference: the target holds what the source holds');

    const victim = 'user:42';
    await Promise.all([a.command('SET', victim, 'v'), b.command('SET', victim, 'v')]);
    await b.command('DEL', victim);
    await b.command('SET', 'only\r\non-target', 'x');
    const out = join(mkdtempSync(join(tmpdir(), 'ferry-verify-')), 'diffs.jsonl');
    const differ = await ferryVerify([
      '--source',
      url(a),
      '--target',
      url(b),
      '--rounds',
      '2',
      '--interval',
      '0.1',
      '--out',
      out,
    ]);
    expect(differ.code, differ.stdout + differ.stderr).toBe(1);
    expect(differ.stdout).toMatch(/2 difference\(s\): missing 1, extra 1, type 0, length 0, value 0, ttl 0/);
    const lines = readFileSync(out, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { kind: string; key: string });
    expect(lines.map((l) => [l.kind, l.key]).sort()).toEqual([
      ['extra', 'only\r\non-target'],
      ['missing', victim],
    ]);

    const json = await ferryVerify([
      '--source',
      url(a),
      '--target',
      url(b),
      '--mode',
      'outline',
      '--rounds',
      '1',
      '--json',
    ]);
    expect(json.code).toBe(1);
    expect((JSON.parse(json.stdout) as { counts: Record<string, number> }).counts).toMatchObject({
      missing: 1,
      extra: 1,
    });

    const bad = await ferryVerify(['--source', url(a), '--target', url(b), '--mode', 'deep']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--mode must be outline, length or full; got "deep"');
  });

  it('reads a twemproxy source through its nutcracker.yml: the backends, each holding part of the keys', async () => {
    const backends = await Promise.all([1, 2].map((i) => servers.redis({ label: `vtw${i}` })));
    const proxy = servers.adopt(await startTwemproxy({ backends }));
    const target = await servers.redis({ label: 'vtw-target' });
    const spec = { catalogue: false, randomKeys: 800, expireBaseMs: Date.now() + 86_400_000 };
    await populate(proxy.client(), { ...spec, serverVersion: backends[0]?.version ?? '' });
    await populate(target.client(), spec);
    const args = [
      '--source-topology',
      'twemproxy',
      '--nutcracker-config',
      proxy.configPath,
      '--target',
      url(target),
      '--rounds',
      '1',
    ];
    let r = await ferryVerify(args);
    expect(r.stdout).toContain('no difference');
    expect(r.code).toBe(0);
    await target.client().set('extra-one', 'x');
    r = await ferryVerify(args);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/1 difference\(s\): missing 0, extra 1/);
  });
});
