import { existsSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { type RedisServer, startRedis, startReplica } from '../src/index.js';
import { expectAllDead } from './helpers.js';

describe('startRedis / startReplica', () => {
  const started: RedisServer[] = [];
  afterAll(async () => {
    await Promise.all(started.map((s) => s.stop()));
  });

  it('starts a standalone server with a password and ACL users, and stops it by PID', async () => {
    const server = await startRedis({
      password: 'se cr"et',
      aclUsers: [{ name: 'migrator', password: 'm-pass', rules: '~* &* +@all -psync -sync' }],
      config: { databases: 20, 'maxmemory-policy': 'noeviction' },
    });
    started.push(server);
    const pid = server.pid;
    expect(server.running()).toBe(true);
    expect(server.version).toMatch(/^\d+\.\d+\.\d+$/);
    expect(server.url).toBe(`redis://:se%20cr%22et@127.0.0.1:${server.port}`);

    const client = server.client();
    expect(await client.set('k', 'v')).toBe('OK');
    expect(await client.config('GET', 'databases')).toEqual(['databases', '20']);

    // the ACL user exists and lacks PSYNC, as configured
    const acl = server.client({ username: 'migrator', password: 'm-pass' });
    expect(await acl.get('k')).toBe('v');
    await expect(acl.call('PSYNC', '?', '-1')).rejects.toThrow(/NOPERM/);

    // a wrong password is refused
    const wrong = server.client({ password: 'nope', maxRetriesPerRequest: 0, retryStrategy: () => null });
    await expect(wrong.ping()).rejects.toThrow(/WRONGPASS|invalid password|NOAUTH/);

    const dir = server.dir;
    await server.stop();
    await expectAllDead([pid]);
    expect(existsSync(dir)).toBe(false);
    expect(server.running()).toBe(false);
  });

  it('kills and restarts a server on the same port and folder', async () => {
    const server = await startRedis();
    started.push(server);
    const client = server.client();
    await client.set('persisted', '1');
    await client.save();
    const firstPid = server.pid;
    await server.kill('SIGKILL');
    await expectAllDead([firstPid]);
    await server.restart();
    expect(server.pid).not.toBe(firstPid);
    const again = server.client();
    expect(await again.get('persisted')).toBe('1');
    const secondPid = server.pid;
    await server.stop();
    await expectAllDead([secondPid]);
  });

  it('starts a replica that is synced with its primary', async () => {
    const primary = await startRedis({ password: 'pw' });
    started.push(primary);
    await primary.client().set('before', 'sync');
    const replica = await startReplica(primary);
    started.push(replica);
    const info = await replica.info('replication');
    expect(info.role).toBe('slave');
    expect(info.master_link_status).toBe('up');
    expect(await replica.client().get('before')).toBe('sync');
    const pids = [primary.pid, replica.pid];
    await Promise.all([replica.stop(), primary.stop()]);
    await expectAllDead(pids);
  });

  it('says why a server does not start', async () => {
    await expect(startRedis({ config: { 'no-such-directive': 'x' } })).rejects.toThrow(
      /exited .* while starting[\s\S]*no-such-directive/,
    );
  });

  it('refuses a Redis version it does not have, naming what it has', async () => {
    await expect(startRedis({ version: '1.0' })).rejects.toMatchObject({ code: 'TESTKIT_UNAVAILABLE' });
  });
});
