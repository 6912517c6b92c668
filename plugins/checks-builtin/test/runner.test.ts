import type { CheckPlugin } from '@ferry/core';
import { serverIdentity } from '@ferry/core';
import { serverScope } from '@ferry/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { builtinChecks, judgeVersions, replicaLimit } from '../src/index.js';
import { endpointOf, of, precheck, show, statusOf } from './helpers.js';

const servers = serverScope();
afterAll(() => servers.stop());
const server = servers.redis;

describe('the check runner', () => {
  it('runs a third-party check written as a plain object beside the built-in ones', async () => {
    const source = await server({ label: 'source' });
    const target = await server({ label: 'target' });
    await source.command('SET', 'tenant:1', 'x');
    // an integrator's rule: every key must belong to a tenant
    const tenantKeys: CheckPlugin = {
      kind: 'check',
      meta: { name: 'acme-checks', version: '1.0.0', engine: '^0.1.0' },
      id: 'acme-tenant-keys',
      title: 'Keys belong to a tenant',
      async run(input) {
        const node = input.shards[0]?.primary;
        if (!node) return [];
        const [, keys] = (await input.probe.command(node, ['SCAN', 0, 'COUNT', 1000])) as [Buffer, Buffer[]];
        const stray = keys.map(String).filter((k) => !k.startsWith('tenant:'));
        return [
          stray.length
            ? {
                checkId: 'acme-tenant-keys',
                status: 'warn',
                message: `keys without a tenant: ${stray.join(', ')}`,
              }
            : { checkId: 'acme-tenant-keys', status: 'pass', message: 'every key belongs to a tenant' },
        ];
      },
    };
    const ok = await precheck({
      source: [endpointOf(source)],
      target: endpointOf(target),
      plugins: [tenantKeys],
    });
    expect(ok.checks.map((c) => c.id)).toContain('acme-tenant-keys');
    expect(ok.checks.length).toBe(builtinChecks().length + 1);
    expect(of(ok, 'acme-tenant-keys')[0]?.message).toBe('every key belongs to a tenant');
    await source.command('SET', 'orphan', 'x');
    const warned = await precheck({
      source: [endpointOf(source)],
      target: endpointOf(target),
      plugins: [tenantKeys],
    });
    expect(statusOf(warned, 'acme-tenant-keys'), show(warned)).toBe('warn');
    expect(warned.status).toBe('warn');
  });

  it('turns a check that throws or hangs into a warn that says it verified nothing', async () => {
    const source = await server({ label: 'source' });
    const target = await server({ label: 'target' });
    const meta = { name: 'broken', version: '0.0.1', engine: '*' };
    const throwing: CheckPlugin = {
      kind: 'check',
      meta,
      id: 'throws',
      title: 'Throws',
      run: async () => {
        throw new Error('boom');
      },
    };
    const hanging: CheckPlugin = {
      kind: 'check',
      meta,
      id: 'hangs',
      title: 'Hangs',
      run: () => new Promise(() => {}),
    };
    const { createEngine } = await import('@ferry/core');
    const { sourceStandalone } = await import('@ferry/source-standalone');
    const engine = createEngine({ plugins: [sourceStandalone(), throwing, hanging] });
    const task = engine.createTask({
      id: 'runner',
      source: { topology: 'standalone', options: { nodes: [endpointOf(source)] } },
      target: { endpoint: endpointOf(target) },
    });
    const report = await task.check({ timeoutMs: 300 });
    expect(report.status).toBe('warn');
    expect(of(report, 'throws')[0]).toMatchObject({
      status: 'warn',
      message: 'Throws: could not run (boom), so it verified nothing',
    });
    expect(of(report, 'hangs')[0]?.message).toBe(
      'Hangs: did not finish within 300 ms, so it verified nothing',
    );
    expect(task.state).toBe('check_passed');
    // a warned task may start (the user acknowledges warnings); the report stays on the task
    expect(task.checkReport).toBe(report);
  });

  it('fails at once when the source cannot even be discovered', async () => {
    const target = await server({ label: 'target' });
    const report = await precheck({ source: [{ host: '127.0.0.1', port: 1 }], target: endpointOf(target) });
    expect(report.status).toBe('fail');
    expect(report.results).toHaveLength(1);
    expect(report.results[0]?.message).toMatch(
      /the source could not be discovered: cannot connect to 127\.0\.0\.1:1: connection refused/,
    );
  });
});

describe('verdicts without a server of each version', () => {
  // only Redis 7.0 runs on this machine: the version rules are checked on their own
  it('judges versions: too old, too new, target older than source', () => {
    expect(judgeVersions('2.6.17', '7.0.15')[0]).toMatchObject({ status: 'fail' });
    expect(judgeVersions('9.0.0', '9.0.0')[0]?.message).toMatch(/newer than Ferry can parse/);
    const older = judgeVersions('7.2.4', '6.2.14');
    expect(older[0]?.status).toBe('warn');
    expect(older[0]?.message).toMatch(/refuses RESTORE payloads of RDB 11/);
    expect(judgeVersions('8.0.2', '8.0.2')[0]?.status).toBe('pass');
    expect(judgeVersions('2.8.24', '7.0.15')[0]?.status).toBe('pass');
    // Redis 8.6, 8.8 and 8.10 write RDB 13, 14 and 15, which Ferry reads; 8.12 writes a newer one:
    // refused at the precheck, not at the snapshot's header
    expect(judgeVersions('8.6.0', '8.6.0')[0]?.status).toBe('pass');
    expect(judgeVersions('8.8.0', '8.8.0')[0]?.status).toBe('pass');
    expect(judgeVersions('8.10.0', '8.10.0')[0]?.status).toBe('pass');
    const r812 = judgeVersions('8.12.0', '8.12.0')[0];
    expect(r812?.status).toBe('fail');
    expect(r812?.message).toMatch(
      /Redis 8\.12\.0, which writes RDB 16: newer than Ferry can parse \(up to RDB 15/,
    );
    expect(judgeVersions('8.6.0', '7.0.15')[0]?.message).toMatch(/refuses RESTORE payloads of RDB 13/);
    // an 8.8 source into an older target: what it cannot hold is said before the task starts
    const r88 = judgeVersions('8.8.0', '7.0.15');
    expect(r88.map((r) => r.status)).toEqual(['warn', 'warn']);
    expect(r88[0]?.message).toMatch(/ARRAY type and stream entries given back with XNACK/);
    expect(judgeVersions('8.8.0', '8.6.0')[0]?.message).toMatch(/an ARRAY is not written/);
    // servers named by what they are, not by the redis_version they keep for compatibility
    const valkey = (v: string) =>
      serverIdentity({ redis_version: '7.2.4', server_name: 'valkey', valkey_version: v });
    const v80 = judgeVersions(valkey('8.0.1'), '7.0.15');
    expect(v80[0]?.status).toBe('warn');
    expect(v80[0]?.message).toMatch(
      /the target \(Redis 7\.0\.15\) takes RESTORE payloads up to RDB 10, and the source \(Valkey 8\.0\.1\) writes RDB 11/,
    );
    expect(judgeVersions('7.4.1', valkey('8.0.1'))[0]?.message).toMatch(
      /the target \(Valkey 8\.0\.1\) takes RESTORE payloads up to RDB 11/,
    );
    expect(judgeVersions(valkey('8.0.1'), valkey('8.0.1'))[0]).toMatchObject({
      status: 'pass',
      message: 'source Valkey 8.0.1, target Valkey 8.0.1: RESTORE carries values as they are',
    });
    // Valkey 9.0 sends its own format to Ferry (which announces 9.0): read, and RESTOREd into a
    // Valkey 9 (whose RESTORE takes VALKEY080 payloads), rewritten for any other target
    expect(judgeVersions(valkey('9.0.0'), valkey('9.1.2'))[0]).toMatchObject({
      status: 'pass',
      message: 'source Valkey 9.0.0, target Valkey 9.1.2: RESTORE carries values as they are',
    });
    const v9 = judgeVersions(valkey('9.0.0'), valkey('8.0.1'));
    expect(v9.map((r) => r.status)).toEqual(['warn']);
    expect(v9[0]?.message).toMatch(
      /sends Valkey's own format \(VALKEY080\), which the RESTORE of Valkey 8\.0\.1 does not take/,
    );
    expect(judgeVersions(valkey('9.0.0'), '7.4.1')[0]?.message).not.toMatch(/without them/);
    expect(judgeVersions(valkey('9.0.0'), '7.0.15')[0]?.message).toMatch(
      /hash fields keep their TTLs only on Redis 7\.4\+ or Valkey 9\.0\+, so here they are written without them/,
    );
    // Valkey 9.2 writes VALKEY081, which Ferry does not read: it is sent VALKEY080
    expect(judgeVersions(valkey('9.2.0'), valkey('9.2.0'))[0]?.message).toMatch(
      /VALKEY081\) this Ferry does not read: it announces Valkey 9\.0 and is sent VALKEY080/,
    );
  });

  it('reads client-output-buffer-limit in both spellings and units', () => {
    expect(replicaLimit('normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60')).toEqual({
      hard: 268435456,
      soft: 67108864,
      seconds: 60,
    });
    expect(replicaLimit('normal 0 0 0 replica 1mb 512kb 10 pubsub 32mb 8mb 60')).toEqual({
      hard: 1 << 20,
      soft: 512 << 10,
      seconds: 10,
    });
    expect(replicaLimit('normal 0 0 0')).toBeUndefined();
  });
});
