import { Redis, type RedisOptions } from 'ioredis';
import type { Endpoint } from '../types.js';

/** ioredis options for one endpoint, failing fast (tests want an error, not a silent retry loop). */
export function clientOptions(endpoint: Endpoint, extra: RedisOptions = {}): RedisOptions {
  return {
    host: endpoint.host,
    port: endpoint.port,
    ...(endpoint.username ? { username: endpoint.username } : {}),
    ...(endpoint.password ? { password: endpoint.password } : {}),
    maxRetriesPerRequest: 2,
    connectTimeout: 5_000,
    // CLIENT SETINFO makes twemproxy drop the connection and old servers log errors.
    disableClientInfo: true,
    ...extra,
  };
}

/** Runs `fn` with a short-lived connection that never reconnects; always closed afterwards. */
export async function withClient<T>(
  endpoint: Endpoint,
  fn: (client: Redis) => Promise<T>,
  extra: RedisOptions = {},
): Promise<T> {
  const client = new Redis(
    clientOptions(endpoint, {
      lazyConnect: true,
      retryStrategy: () => null,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      ...extra,
    }),
  );
  client.on('error', () => {
    // surfaced through the rejected command instead
  });
  try {
    await client.connect();
    return await fn(client);
  } finally {
    client.disconnect();
  }
}

/** INFO as a flat map ("role" → "master"); every section when none is named. */
export async function info(client: Redis, section?: string): Promise<Record<string, string>> {
  const text = section ? await client.info(section) : await client.info();
  const out: Record<string, string> = {};
  for (const line of text.split('\r\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

interface Closable {
  disconnect(): void;
  on(event: 'error', listener: (err: Error) => void): unknown;
  once(event: 'end', listener: () => void): unknown;
}

/** The clients a server handle handed out, so that `stop()` closes them all. */
export class ClientRegistry<C extends Closable> {
  private readonly clients = new Set<C>();

  track(client: C): C {
    client.on('error', () => {
      // connection errors reach the awaiting command; servers are stopped under live clients
    });
    this.clients.add(client);
    client.once('end', () => this.clients.delete(client));
    return client;
  }

  closeAll(): void {
    for (const c of this.clients) c.disconnect();
    this.clients.clear();
  }
}
