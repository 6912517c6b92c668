import { setTimeout as sleep } from 'node:timers/promises';
import {
  allocatePort,
  populate,
  type RedisServer,
  releasePort,
  selfSignedCertificate,
  startCluster,
  startRedis,
  tlsServerConfig,
} from '@ferry/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { connect, RedirectError, ReplyError, type RespConnection } from '../src/index.js';

const servers: Array<{ stop(): Promise<void> }> = [];
const conns: RespConnection[] = [];
afterAll(async () => {
  for (const c of conns) c.destroy();
  await Promise.all(servers.map((s) => s.stop()));
});
async function server(options: Parameters<typeof startRedis>[0] = {}): Promise<RedisServer> {
  const s = await startRedis(options);
  servers.push(s);
  return s;
}
async function open(...args: Parameters<typeof connect>): Promise<RespConnection> {
  const c = await connect(...args);
  conns.push(c);
  return c;
}

describe('RespConnection against a real server', () => {
  it('pipelines 100 000 commands with replies in order and never more than maxInFlight on the wire', async () => {
    const s = await server();
    const c = await open({ host: s.host, port: s.port, maxInFlight: 64 });
    const replies: Array<Promise<unknown>> = [];
    let peak = 0;
    for (let i = 0; i < 100_000; i++) {
      await c.writable();
      replies.push(c.send(['INCR', 'counter']));
      peak = Math.max(peak, c.pending);
    }
    const values = await Promise.all(replies);
    expect(values[0]).toBe(1);
    expect(values[99_999]).toBe(100_000);
    expect(values.every((v, i) => v === i + 1)).toBe(true);
    expect(peak).toBeLessThanOrEqual(64);
  });

  it('a producer pacing itself on writable() holds at most maxInFlightBytes of commands; a bigger one goes alone', async () => {
    const s = await server();
    const c = await open({ host: s.host, port: s.port, maxInFlight: 10_000, maxInFlightBytes: 1 << 20 });
    const value = Buffer.alloc(300 << 10, 7);
    const replies: Array<Promise<unknown>> = [];
    let peak = 0;
    for (let i = 0; i < 40; i++) {
      await c.writable();
      replies.push(c.send(['SET', `big:${i}`, value]));
      peak = Math.max(peak, c.pendingByteCount);
    }
    // the count would have allowed all 40 (12 MB) at once; the budget allowed one past 1 MB
    expect(peak).toBeLessThan((1 << 20) + 2 * value.length);
    await Promise.all(replies);
    expect(c.pendingByteCount).toBe(0);
    const huge = Buffer.alloc(3 << 20, 1);
    await c.writable();
    await expect(c.send(['SET', 'huge', huge])).resolves.toBe('OK');
    expect(Number(await c.send(['STRLEN', 'huge']))).toBe(3 << 20);
    expect(c.pendingByteCount).toBe(0);
  });

  it('carries binary arguments and replies unchanged', async () => {
    const s = await server();
    const c = await open({ host: s.host, port: s.port });
    const key = Buffer.from([0, 13, 10, 255, 36, 42]);
    const value = Buffer.alloc(3 << 20, 0xab);
    expect(await c.send(['SET', key, value])).toBe('OK');
    expect(Buffer.compare((await c.send(['GET', key])) as Buffer, value)).toBe(0);
  });

  it('types error replies and names the command', async () => {
    const s = await server({ aclUsers: [{ name: 'reader', password: 'r', rules: '~* +@read +ping' }] });
    const c = await open({ host: s.host, port: s.port });
    await c.send(['SET', 'str', 'x']);
    const wrongType = await c.send(['LPUSH', 'str', 'a']).catch((e: unknown) => e);
    expect(wrongType).toBeInstanceOf(ReplyError);
    expect(wrongType).toMatchObject({ kind: 'WRONGTYPE', command: 'LPUSH str' });
    const reader = await open({ host: s.host, port: s.port, username: 'reader', password: 'r' });
    await expect(reader.send(['SET', 'k', 'v'])).rejects.toMatchObject({ kind: 'NOPERM' });
    // an error reply does not disturb the order of the next replies
    expect(await c.send(['PING'])).toBe('PONG');
  });

  it('reports BUSY while a script runs, and recovers after SCRIPT KILL', async () => {
    const s = await server({ config: { 'busy-reply-threshold': 100 } });
    const runner = await open({ host: s.host, port: s.port });
    const busy = runner
      .send(['EVAL', 'local i = 0 while true do i = i + 1 end', '0'])
      .catch((e: unknown) => e);
    await sleep(300);
    const other = await open({ host: s.host, port: s.port });
    const err = await other.send(['GET', 'x']).catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: 'BUSY' });
    expect((err as ReplyError).retryable).toBe(true);
    await other.send(['SCRIPT', 'KILL']);
    expect(await busy).toMatchObject({ kind: 'ERR' });
    expect(await other.send(['GET', 'x'])).toBe(null);
  });

  it('reports LOADING while the server loads its dataset', async () => {
    const s = await server({ config: { 'key-load-delay': 50 } });
    const seed = s.client();
    await populate(seed, { catalogue: false, randomKeys: 20_000 });
    await seed.save();
    await s.kill();
    const restart = s.restart().catch(() => {}); // the harness waits for loading to end; we look before
    let seen: unknown;
    for (let i = 0; i < 100 && !seen; i++) {
      await sleep(50);
      const c = await connect({ host: s.host, port: s.port }).catch(() => undefined);
      if (!c) continue;
      conns.push(c);
      seen = await c.send(['GET', 'x']).then(
        () => undefined,
        (e: unknown) => e,
      );
    }
    expect(seen).toMatchObject({ kind: 'LOADING' });
    await s.command('CONFIG', 'SET', 'key-load-delay', '0').catch(() => {});
    await restart;
  });

  it('follows nothing itself but exposes MOVED and ASK with their slot and address', async () => {
    const cluster = await startCluster({ masters: 3 });
    servers.push(cluster);
    const [first] = cluster.nodes;
    if (!first) throw new Error('no node');
    const c = await open({ host: first.host, port: first.port });
    let moved: unknown;
    for (let i = 0; i < 50 && !moved; i++)
      moved = await c.send(['GET', `key${i}`]).then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(moved).toBeInstanceOf(RedirectError);
    const r = moved as RedirectError;
    expect(r.kind).toBe('MOVED');
    expect(r.host).toBe('127.0.0.1');
    expect(cluster.nodes.map((n) => n.port)).toContain(r.port);
    expect(r.slot).toBeGreaterThanOrEqual(0);
  });

  it('fails clearly on a wrong password, a missing password and an unreachable port', async () => {
    const s = await server({ password: 'right', aclUsers: [{ name: 'u', password: 'p' }] });
    await expect(connect({ host: s.host, port: s.port, password: 'wrong' })).rejects.toMatchObject({
      code: 'AUTH_FAILED',
      message: expect.stringContaining('wrong password'),
    });
    await expect(
      connect({ host: s.host, port: s.port, username: 'u', password: 'nope' }),
    ).rejects.toMatchObject({
      code: 'AUTH_FAILED',
      message: expect.stringContaining('user "u"'),
    });
    const anonymous = await open({ host: s.host, port: s.port });
    // the server's NOAUTH, at the first command, is said as what it is: a missing password
    await expect(anonymous.send(['PING'])).rejects.toMatchObject({
      code: 'AUTH_FAILED',
      message: expect.stringContaining('requires a password and none was given'),
    });
    const good = await open({ host: s.host, port: s.port, username: 'u', password: 'p', db: 3 });
    expect(await good.send(['PING'])).toBe('PONG');

    const port = await allocatePort();
    releasePort(port); // nothing listens there
    await expect(connect({ host: '127.0.0.1', port })).rejects.toMatchObject({
      code: 'CONNECTION_FAILED',
      message: expect.stringContaining('connection refused'),
    });
  });

  it('aborts one queued command, or the whole connection', async () => {
    const s = await server();
    const c = await open({ host: s.host, port: s.port, maxInFlight: 1 });
    const slow = c.send(['DEBUG', 'SLEEP', '0.3']);
    const ac = new AbortController();
    const queued = c.send(['SET', 'aborted', '1'], { signal: ac.signal });
    ac.abort();
    await expect(queued).rejects.toMatchObject({ code: 'ABORTED' });
    await slow;
    expect(await c.send(['EXISTS', 'aborted'])).toBe(0); // never written
    const whole = new AbortController();
    const d = await open({ host: s.host, port: s.port, signal: whole.signal });
    const pending = d.send(['DEBUG', 'SLEEP', '0.3']);
    whole.abort();
    await expect(pending).rejects.toMatchObject({ code: 'ABORTED' });
    expect(d.open).toBe(false);
  });

  it('fails pending commands when the server goes away', async () => {
    const s = await server();
    const c = await open({ host: s.host, port: s.port });
    const pending = c.send(['DEBUG', 'SLEEP', '2']).catch((e: unknown) => e);
    await sleep(100);
    await s.kill();
    expect(await pending).toMatchObject({ code: 'CONNECTION_CLOSED' });
    await expect(c.send(['PING'])).rejects.toMatchObject({ code: 'CONNECTION_CLOSED' });
  });

  it('speaks TLS', async () => {
    const tls = selfSignedCertificate();
    const tlsPort = await allocatePort();
    const s = await server({
      config: tlsServerConfig(tlsPort, tls),
    });
    releasePort(tlsPort);
    const c = await open({
      host: '127.0.0.1',
      port: tlsPort,
      tls: { ca: tls.cert, servername: 'localhost' },
    });
    expect(await c.send(['PING'])).toBe('PONG');
    await expect(
      connect({ host: '127.0.0.1', port: tlsPort, tls: true, connectTimeoutMs: 5000 }),
    ).rejects.toMatchObject({
      code: 'CONNECTION_FAILED',
      message: expect.stringContaining('TLS'),
    });
    expect(s.running()).toBe(true);
  });

  it('speaks RESP3 after HELLO 3', async () => {
    const s = await server({ password: 'pw' });
    const c = await open({ host: s.host, port: s.port, password: 'pw', protocol: 3 });
    await c.send(['HSET', 'h', 'a', '1']);
    const reply = await c.send(['HGETALL', 'h']);
    expect(reply?.constructor.name).toBe('RespMap');
  });
});
