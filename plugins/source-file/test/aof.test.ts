/**
 * AOFs written by a real redis-server (Debian's 7.0 here) replayed into a target: the multi-part
 * layout with and without its RDB preamble, and the single-file layouts of older servers (an RDB
 * preamble then commands; commands only). The target must hold the keys the writing server holds.
 */
import { cpSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Task } from '@ferry/core';
import {
  compareDeployments,
  formatDifferences,
  populate,
  type RedisServer,
  serverScope,
  waitFor,
} from '@ferry/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { engine } from './helpers.js';

const servers = serverScope();
afterAll(() => servers.stop());

const dbs = [0, 1];

/** A server that logs every write to its AOF: a snapshot's worth rewritten into the base, then more. */
async function writer(preamble: boolean): Promise<{ server: RedisServer; dir: string }> {
  const server = await servers.redis({
    label: 'aof',
    // with timestamp annotations (`#TS:` lines between commands), which the replay skips
    config: {
      appendonly: 'yes',
      'aof-use-rdb-preamble': preamble ? 'yes' : 'no',
      'aof-timestamp-enabled': 'yes',
    },
  });
  await populate(server.client(), { dbs, randomKeys: 500 });
  await server.command('BGREWRITEAOF');
  await waitFor(
    async () => /aof_rewrite_in_progress:0/.test(String(await server.command('INFO', 'persistence'))),
    { what: 'the AOF rewrite', timeoutMs: 30_000 },
  );
  // after the rewrite: commands that only the incremental file holds, not all idempotent
  const c = server.client();
  for (let i = 0; i < 300; i++) {
    await c.incr(`counter:${i % 7}`);
    await c.rpush(`seq:${i % 5}`, String(i));
    if (i % 50 === 0) await c.del(`counter:${(i + 3) % 7}`);
  }
  await c.select(1);
  await c.set('in-db-1', 'after the rewrite');
  await c.multi().incr('tx').incr('tx').exec();
  c.disconnect();
  await server.command('CONFIG', 'SET', 'appendfsync', 'always');
  await server.command('SET', 'last', 'written');
  return { server, dir: join(server.dir, 'appendonlydir') };
}

async function restore(aof: string, target: RedisServer, id = `a${Date.now()}`): Promise<Task> {
  const task = engine().createTask({
    id,
    source: { topology: 'file', options: { aof } },
    target: { endpoint: { host: target.host, port: target.port } },
  });
  await task.start();
  return task;
}

describe('ferry replays an AOF to the keys the server that wrote it holds', () => {
  for (const preamble of [true, false]) {
    it(`a Redis 7 multi-part AOF (appendonlydir, ${preamble ? 'with' : 'without'} an RDB preamble)`, async () => {
      const { server, dir } = await writer(preamble);
      const copy = mkdtempSync(join(tmpdir(), 'ferry-aof-'));
      cpSync(dir, copy, { recursive: true });
      const base = readdirSync(copy).find((n) => n.includes('.base.'));
      expect(base).toMatch(preamble ? /\.base\.rdb$/ : /\.base\.aof$/);
      const target = await servers.redis({ label: 'target' });
      const task = await restore(copy, target);
      expect(task.state).toBe('succeeded');
      expect(task.doneCheck?.ok, task.doneCheck?.problem).toBe(true);
      expect(task.doneCheck?.summary).toMatch(
        /every command of the AOF applied and acknowledged by the target/,
      );
      expect(formatDifferences(await compareDeployments(server, target, { dbs }))).toBe('');
    });
  }

  it('the single-file layouts of older servers: an RDB preamble then commands, and commands only', async () => {
    for (const preamble of [true, false]) {
      const { server, dir } = await writer(preamble);
      const names = readdirSync(dir);
      const base = names.find((n) => n.includes('.base.')) as string;
      const incr = names.filter((n) => n.includes('.incr.')).sort();
      // what a Redis before 7 kept in appendonly.aof: the rewrite's output, then the commands after it
      const single = join(mkdtempSync(join(tmpdir(), 'ferry-aof-')), 'appendonly.aof');
      writeFileSync(single, Buffer.concat([base, ...incr].map((n) => readFileSync(join(dir, n)))));
      const target = await servers.redis({ label: 'target' });
      const task = await restore(single, target);
      expect(task.state).toBe('succeeded');
      expect(formatDifferences(await compareDeployments(server, target, { dbs }))).toBe('');
    }
  });

  it('stopped mid-replay and started again: resumes after the last command the target took, none twice', async () => {
    // without a preamble the base holds thousands of commands too: the stop falls among them
    const { server, dir } = await writer(false);
    const copy = mkdtempSync(join(tmpdir(), 'ferry-aof-'));
    cpSync(dir, copy, { recursive: true });
    const target = await servers.redis({ label: 'target' });
    const task = engine().createTask({
      id: 'aof-resume',
      source: { topology: 'file', options: { aof: copy } },
      target: { endpoint: { host: target.host, port: target.port } },
      options: { rateLimit: { keysPerSec: 500 } },
    });
    const modes: string[] = [];
    task.events.on('shard:start', (e) => modes.push(e.mode));
    const first = task.start();
    await waitFor(
      async () => task.metrics()[0]?.phase === 'streaming' && (task.metrics()[0]?.commands ?? 0) > 1500,
      {
        what: 'the replay under way',
        timeoutMs: 60_000,
      },
    );
    await task.stop();
    await first;
    expect(task.state).toBe('stopped');
    const applied = task.metrics()[0]?.appliedOffset ?? 0;
    const total = task.metrics()[0]?.sourceOffset ?? 0;
    expect(applied).toBeGreaterThan(0);
    expect(applied).toBeLessThan(total); // stopped mid-replay
    task.setRateLimit({});
    await task.start();
    expect(task.state).toBe('succeeded');
    expect(modes).toEqual(['full', 'continue']);
    expect(formatDifferences(await compareDeployments(server, target, { dbs }))).toBe('');
  });

  it('a file cut inside its last command: everything before it applied, then one clear error, no hang', async () => {
    const { dir } = await writer(false);
    const names = readdirSync(dir);
    const single = join(mkdtempSync(join(tmpdir(), 'ferry-aof-')), 'appendonly.aof');
    const whole = Buffer.concat(
      names
        .filter((n) => !n.endsWith('.manifest'))
        .sort()
        .map((n) => readFileSync(join(dir, n))),
    );
    // base before incr (sorted by name: "….base.aof" < "….incr.aof"), then 6 bytes of a next command
    writeFileSync(single, Buffer.concat([whole, Buffer.from('*3\r\n$3')]));
    const target = await servers.redis({ label: 'target' });
    await expect(restore(single, target)).rejects.toThrow(
      /ends inside a command \(its last 6 bytes\): it was cut while being written\. Everything before it is applied; redis-check-aof --fix/,
    );
    expect(Number(await target.command('DBSIZE'))).toBeGreaterThan(0);
  });

  it('refuses a folder without a manifest and a manifest it cannot read, before writing', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'ferry-aof-'));
    const target = await servers.redis({ label: 'target' });
    await expect(restore(empty, target)).rejects.toThrow(/has no AOF manifest \(\*\.manifest\)/);
    writeFileSync(join(empty, 'appendonly.aof.manifest'), 'this is not a manifest\n');
    await expect(restore(empty, target)).rejects.toThrow(/has a line Ferry does not read/);
    expect(Number(await target.command('DBSIZE'))).toBe(0);
  });
});
