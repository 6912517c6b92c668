import { FerryError } from '@ferry/errors';
import type { Endpoint } from '@ferry/plugin-sdk';
import { connect, type RespConnection } from '@ferry/resp';

export type { Endpoint };

function bad(what: string, input: string, why: string): FerryError {
  return new FerryError('CONFIG_INVALID', `${what} ${JSON.stringify(input)}: ${why}`);
}

function port(text: string, what: string, input: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > 65535) throw bad(what, input, `port "${text}" is not 1–65535`);
  return n;
}

/**
 * `host:port[:password]` as operators paste node lists (one per shard); the password may itself
 * contain colons. IPv6 hosts go in brackets: `[::1]:6379`. A `redis://` or `rediss://` URL is
 * accepted too.
 */
export function parseNodeSpec(spec: string, what = 'node'): Endpoint {
  const text = spec.trim();
  if (/^rediss?:\/\//i.test(text)) return parseRedisUrl(text, what).endpoint;
  let host: string;
  let rest: string;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0) throw bad(what, spec, 'unclosed "[" in an IPv6 address');
    host = text.slice(1, close);
    rest = text.slice(close + 1);
    if (!rest.startsWith(':')) throw bad(what, spec, 'expected ":port" after the address');
    rest = rest.slice(1);
  } else {
    const colon = text.indexOf(':');
    if (colon < 0) throw bad(what, spec, 'expected host:port[:password]');
    host = text.slice(0, colon);
    rest = text.slice(colon + 1);
  }
  if (!host) throw bad(what, spec, 'the host is empty');
  const colon = rest.indexOf(':');
  const p = port(colon < 0 ? rest : rest.slice(0, colon), what, spec);
  const password = colon < 0 ? undefined : rest.slice(colon + 1);
  return { host, port: p, ...(password ? { password } : {}) };
}

/** `redis://[user[:password]@]host[:port][/db]` (rediss:// for TLS). */
export function parseRedisUrl(url: string, what = 'URL'): { endpoint: Endpoint; db?: number } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw bad(what, url, 'not a URL (expected redis://[user:password@]host:port[/db])');
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:')
    throw bad(what, url, `scheme "${u.protocol}" is not redis: or rediss:`);
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  if (!host) throw bad(what, url, 'the host is empty');
  const endpoint: Endpoint = { host, port: u.port ? port(u.port, what, url) : 6379 };
  const user = decodeURIComponent(u.username);
  const password = decodeURIComponent(u.password);
  // redis://:password@host is the password-only form; redis://password@host is read the same way
  if (password) {
    endpoint.password = password;
    if (user) endpoint.username = user;
  } else if (user) endpoint.password = user;
  if (u.protocol === 'rediss:') endpoint.tls = true;
  const path = u.pathname.replace(/^\//, '');
  if (path && !/^\d+$/.test(path)) throw bad(what, url, `"/${path}" is not a database number`);
  return path ? { endpoint, db: Number(path) } : { endpoint };
}

/** host:port, for messages and ids. */
export function endpointName(e: Endpoint): string {
  return e.host.includes(':') ? `[${e.host}]:${e.port}` : `${e.host}:${e.port}`;
}

/** One node given as `host:port[:password]` or `{ host, port, … }`. */
export function toEndpoint(v: unknown, what: string): Endpoint {
  if (typeof v === 'string') return parseNodeSpec(v, what);
  const e = v as Endpoint;
  if (typeof v === 'object' && v !== null && typeof e.host === 'string' && Number.isInteger(e.port)) return e;
  throw new FerryError('CONFIG_INVALID', `${what} must be "host:port[:password]" or { host, port }`);
}

/**
 * A node list as plugins take it: an array of specs or endpoints, or one string of specs separated
 * by spaces, commas or newlines. Empty: an error saying what is needed (`needs`).
 */
export function parseNodeList(raw: unknown, needs: string, what = 'source node'): Endpoint[] {
  const list = Array.isArray(raw) ? raw : typeof raw === 'string' ? raw.split(/[\s,]+/).filter(Boolean) : [];
  if (list.length === 0) throw new FerryError('CONFIG_INVALID', needs);
  return list.map((v, i) => toEndpoint(v, `${what} ${i + 1}`));
}

/** A connection to a node with its credentials, for short reads (INFO, CLUSTER …). */
export function connectEndpoint(
  e: Endpoint,
  signal: AbortSignal,
  timeouts: { connectMs?: number; commandMs?: number } = {},
): Promise<RespConnection> {
  return connect({
    host: e.host,
    port: e.port,
    ...(e.username ? { username: e.username } : {}),
    ...(e.password !== undefined ? { password: e.password } : {}),
    ...(e.tls ? { tls: true } : {}),
    signal,
    connectTimeoutMs: timeouts.connectMs ?? 10_000,
    commandTimeoutMs: timeouts.commandMs ?? 10_000,
  });
}

/**
 * The same error, saying which side it came from ("the target: authentication to … failed"), with
 * `details.side`: the user knows which URL to fix. Errors that already name a side are left alone.
 */
export function onSide(side: 'source' | 'target', err: unknown): unknown {
  if (!(err instanceof FerryError) || err.details?.side) return err;
  if (!['AUTH_FAILED', 'CONNECTION_FAILED', 'TIMEOUT', 'CONNECTION_CLOSED'].includes(err.code)) return err;
  return new FerryError(err.code, `the ${side}: ${err.message}`, {
    cause: err,
    details: { ...err.details, side },
  });
}
