import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { isProcessAlive, reapOrphans } from '../src/index.js';
import { expectAllDead } from './helpers.js';

const here = dirname(fileURLToPath(import.meta.url));
const pkg = join(here, '..');
const testkitDir = process.env.FERRY_TESTKIT_DIR ?? join(tmpdir(), 'ferry-testkit');

/** Starts the owner fixture in `mode`; resolves with it and the PID of the redis-server it started. */
function startOwner(mode: string): Promise<{ child: ReturnType<typeof spawn>; redisPid: number }> {
  const child = spawn(process.execPath, [join(here, 'fixtures', 'owner.mjs'), mode], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n')[0];
      if (out.includes('\n') && line) resolve({ child, redisPid: Number(line) });
    });
    child.once('exit', (code) => {
      if (!out.includes('\n')) reject(new Error(`owner exited (${code}) before starting redis: ${err}`));
    });
  });
}

function exited(child: ReturnType<typeof spawn>): Promise<number | string | null> {
  if (child.exitCode !== null || child.signalCode !== null)
    return Promise.resolve(child.exitCode ?? child.signalCode);
  return new Promise((r) => child.once('exit', (code, signal) => r(code ?? signal)));
}

describe('no server outlives its owner', () => {
  beforeAll(() => {
    // The owner fixture is plain Node: it runs the built package.
    execFileSync(
      process.execPath,
      [join(pkg, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'],
      {
        cwd: pkg,
      },
    );
  });

  it.each(['throw', 'reject', 'exit'])('kills the server when the owner ends by %s', async (mode) => {
    const { child, redisPid } = await startOwner(mode);
    expect(redisPid).toBeGreaterThan(0);
    expect(await exited(child)).not.toBe(0);
    await expectAllDead([redisPid]);
  });

  it.each(['SIGINT', 'SIGTERM', 'SIGHUP'] as const)(
    'kills the server when the owner gets %s',
    async (signal) => {
      const { child, redisPid } = await startOwner('wait');
      expect(isProcessAlive(redisPid)).toBe(true);
      child.kill(signal);
      expect(await exited(child)).toBe(signal);
      await expectAllDead([redisPid]);
    },
  );

  it('reaps the server of an owner killed with SIGKILL', async () => {
    const { child, redisPid } = await startOwner('wait');
    child.kill('SIGKILL');
    await exited(child);
    // SIGKILL leaves no chance to clean up: the server is orphaned until the next reap
    expect(isProcessAlive(redisPid)).toBe(true);
    expect(reapOrphans()).toContain(redisPid);
    await expectAllDead([redisPid]);
    // …and its port lock and server folder went with it
    const locks = readdirSync(join(testkitDir, 'ports')).map((p) =>
      readFileSync(join(testkitDir, 'ports', p), 'utf8'),
    );
    expect(locks.filter((l) => l.includes(`"owner":${child.pid},`))).toEqual([]);
    expect(readdirSync(join(testkitDir, 'srv')).filter((d) => d.includes(`-${child.pid}-`))).toEqual([]);
  });

  it('kills the server of a failing test that never stopped it', async () => {
    const pidFile = join(mkdtempSync(join(tmpdir(), 'ferry-fixture-')), 'pid');
    const vitest = join(pkg, 'node_modules', 'vitest', 'vitest.mjs');
    const child = spawn(
      process.execPath,
      [vitest, 'run', '--config', join(here, 'fixtures', 'vitest.fixture.config.ts')],
      {
        cwd: join(here, 'fixtures'),
        env: { ...process.env, FERRY_FIXTURE_PID_FILE: pidFile },
        stdio: 'ignore',
      },
    );
    expect(await exited(child)).toBe(1); // the fixture test failed, as it must
    const redisPid = Number(readFileSync(pidFile, 'utf8'));
    expect(redisPid).toBeGreaterThan(0);
    await expectAllDead([redisPid]);
  });
});
