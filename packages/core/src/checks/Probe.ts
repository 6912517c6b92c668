import { setMaxListeners } from 'node:events';
import type { ConfigValue, Info, ReadOnlyProbe } from '@ferry/plugin-sdk';
import { connect, ReplyError, type RespConnection, type RespValue } from '@ferry/resp';
import { type Endpoint, endpointName } from '../endpoint.js';
import { type ServerIdentity, serverIdentity } from '../server-identity.js';

export type { ConfigValue, Info };

/** Parses INFO text into fields (`# Section` lines and blanks skipped). */
export function parseInfo(text: string): Info {
  const out: Info = {};
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const colon = line.indexOf(':');
    if (colon > 0) out[line.slice(0, colon)] = line.slice(colon + 1).trim();
  }
  return out;
}

/**
 * Read-only access to the nodes of a precheck, shared by every check of one run: one connection per
 * endpoint (opened on first use, so an unreachable node costs one attempt, not one per check), and
 * INFO / CONFIG GET answers cached, so checks running concurrently ask each node once. It never
 * sends a write or a command that forks (no BGSAVE, no SAVE, no DEBUG).
 */
export class Probe implements ReadOnlyProbe {
  private readonly conns = new Map<string, Promise<RespConnection>>();
  private readonly cache = new Map<string, Promise<unknown>>();
  private readonly sent = new Map<string, number>();
  private readonly readonly = new WeakMap<RespConnection, Promise<void>>();

  constructor(
    /** Aborted when the run is stopped: checks that wait pass it on. */
    readonly signal: AbortSignal,
    private readonly timeoutMs = 5000,
  ) {
    // every connection of the run listens to the signal: dozens on a big cluster
    setMaxListeners(10_000, signal);
  }

  /**
   * The shared connection to `e` (AUTH done, `db` selected); rejects with CONNECTION_FAILED,
   * TIMEOUT or AUTH_FAILED. Each db has its own connection, so no check changes another's db.
   */
  connection(e: Endpoint, db = 0): Promise<RespConnection> {
    const key = `${endpointName(e)}|${e.username ?? ''}|${db}`;
    let c = this.conns.get(key);
    if (!c) {
      c = connect({
        host: e.host,
        port: e.port,
        ...(e.username ? { username: e.username } : {}),
        ...(e.password !== undefined ? { password: e.password } : {}),
        ...(e.tls ? { tls: true } : {}),
        ...(db ? { db } : {}),
        signal: this.signal,
        connectTimeoutMs: this.timeoutMs,
        commandTimeoutMs: this.timeoutMs,
      });
      c.catch(() => undefined);
      this.conns.set(key, c);
    }
    return c;
  }

  /** Sends one read command; server errors reject as ReplyError. */
  async command(e: Endpoint, args: Array<string | number | Buffer>, db = 0): Promise<RespValue> {
    const conn = await this.connection(e, db);
    // the RESP size of the command, so a check can tell the node's traffic from the checks' own
    let bytes = 3 + String(args.length).length;
    for (const a of args) {
      const n = Buffer.isBuffer(a) ? a.length : Buffer.byteLength(String(a));
      bytes += 5 + String(n).length + n;
    }
    this.sent.set(endpointName(e), (this.sent.get(endpointName(e)) ?? 0) + bytes);
    try {
      return await conn.send(args);
    } catch (err) {
      // a cluster replica redirects key reads until the connection says READONLY: say it once
      // (commands already in flight wait for it too), then ask again
      if (err instanceof ReplyError && err.kind === 'MOVED') {
        let ready = this.readonly.get(conn);
        if (!ready) {
          ready = conn.send(['READONLY']).then(() => undefined);
          this.readonly.set(conn, ready);
        }
        await ready;
        return conn.send(args);
      }
      throw err;
    }
  }

  private cached<T>(key: string, make: () => Promise<T>): Promise<T> {
    let p = this.cache.get(key) as Promise<T> | undefined;
    if (!p) {
      p = make();
      p.catch(() => undefined);
      this.cache.set(key, p);
    }
    return p;
  }

  /** Bytes the checks of this run have sent to `e` so far (commands only; the handshake aside). */
  bytesSent(e: Endpoint): number {
    return this.sent.get(endpointName(e)) ?? 0;
  }

  /** INFO (all default sections, or one), parsed and cached per node. */
  info(e: Endpoint, section?: string): Promise<Info> {
    return this.cached(`info|${endpointName(e)}|${section ?? ''}`, async () =>
      parseInfo(String(await this.command(e, section ? ['INFO', section] : ['INFO']))),
    );
  }

  /** The server's Redis-compatible version, from INFO server (`redis_version`). */
  async version(e: Endpoint): Promise<string> {
    return (await this.info(e, 'server')).redis_version ?? '0.0.0';
  }

  /** Which server it is: product, its own version, the RDB it writes and takes (see server-identity.ts). */
  async identity(e: Endpoint): Promise<ServerIdentity> {
    return serverIdentity((await this.info(e, 'server')) as Record<string, string>);
  }

  /** CONFIG GET of one parameter; a refusal (NOPERM, renamed CONFIG, unknown parameter) is returned, not thrown. */
  config(e: Endpoint, name: string): Promise<ConfigValue> {
    return this.cached(`config|${endpointName(e)}|${name}`, async () => {
      try {
        const reply = (await this.command(e, ['CONFIG', 'GET', name])) as RespValue[];
        if (!Array.isArray(reply) || reply.length < 2)
          return { refused: `CONFIG GET ${name} returned nothing (unknown parameter on this version)` };
        return { value: String(reply[1]) };
      } catch (err) {
        if (err instanceof ReplyError) return { refused: `CONFIG GET ${name} refused: ${err.message}` };
        throw err;
      }
    });
  }

  /**
   * The master nodes of a cluster, from CLUSTER NODES of `seed` (with its credentials), or
   * undefined when `seed` is not a cluster node.
   */
  clusterMasters(seed: Endpoint): Promise<Endpoint[] | undefined> {
    return this.cached(`masters|${endpointName(seed)}`, async () => {
      const info = await this.info(seed, 'cluster');
      if (info.cluster_enabled !== '1') return undefined;
      const text = String(await this.command(seed, ['CLUSTER', 'NODES']));
      const out: Endpoint[] = [];
      for (const line of text.split('\n')) {
        const f = line.trim().split(' ');
        if (f.length < 8 || !f[2]?.split(',').includes('master') || f[2].includes('fail')) continue;
        const addr = (f[1] ?? '').split('@')[0] ?? '';
        const colon = addr.lastIndexOf(':');
        const host = addr.slice(0, colon) || seed.host;
        out.push({ ...seed, host, port: Number(addr.slice(colon + 1)) });
      }
      return out;
    });
  }

  /** Closes every connection. */
  close(): void {
    for (const c of this.conns.values()) c.then((conn) => conn.destroy()).catch(() => undefined);
    this.conns.clear();
    this.cache.clear();
  }
}

/** Why a node could not be reached, in a few words, for check messages. */
export function unreachableReason(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
