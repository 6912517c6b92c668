import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Storage } from '@ferry/storage';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const bin = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'ferry.js');

/** Runs the built `ferry` binary the way a user does. */
async function ferry(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [bin, ...args]);
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('ferry', () => {
  it('prints its usage without arguments and with --help', async () => {
    for (const args of [[], ['--help']]) {
      const r = await ferry(...args);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('Usage: ferry <command>');
      expect(r.stdout).toContain('migrate');
    }
  });

  it('stops quietly when its reader goes away (| head)', async () => {
    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, [bin, '--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy(); // the reader is gone before ferry writes
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    expect(stderr).not.toContain('EPIPE');
    expect(code).toBe(0);
  });

  it('prints its version', async () => {
    expect((await ferry('--version')).stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('refuses an unknown command with exit code 2 and says what to do', async () => {
    const r = await ferry('migrat');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('unknown command "migrat"');
    expect(r.stderr).toContain('ferry --help');
  });

  it('has every command it lists, each saying what it misses when called bare', async () => {
    for (const name of ['migrate', 'check', 'verify']) {
      const r = await ferry(name);
      expect(r.code).toBe(2);
      expect(r.stderr).not.toContain('not in this build yet');
      expect(r.stderr).toContain('give the source');
    }
  });

  it('token create: prints a token once, keeps only its hash in the gateway storage', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-token-'));
    const r = await ferry('token', 'create', 'ci', '--data-dir', dir);
    expect(r.code).toBe(0);
    const token = r.stdout.trim();
    expect(token).toMatch(/^ferry_[A-Za-z0-9_-]{32}$/);
    const storage = await Storage.open({
      sqlitePath: join(dir, 'ferry.db'),
      keyFile: join(dir, 'secret.key'),
    });
    expect(await storage.hasToken(createHash('sha256').update(token).digest('hex'))).toBe(true);
    expect(await storage.hasToken(createHash('sha256').update('other').digest('hex'))).toBe(false);
    await storage.close();
    expect((await ferry('token')).code).toBe(2);
  });
});
