import { setTimeout as sleep } from 'node:timers/promises';
import {
  defineSourceTopology,
  type Endpoint,
  type PluginContext,
  PluginError,
  type ShardSpec,
  type TopologyChange,
  z,
} from '@ferry/plugin-sdk';
import { Redis } from 'ioredis';

export const META = { name: '@ferry/example-source-sentinel', version: '0.1.0', engine: '^0.1.0' };

const options = z.object({
  sentinels: z.union([z.string(), z.array(z.string())]).meta({
    flag: 'sentinel',
    placeholder: 'HOST:PORT',
    locates: true,
    selects: true,
    description: 'a Sentinel watching the source; repeatable: the next one is asked when one does not answer',
  }),
  masterName: z.string().min(1).meta({
    flag: 'sentinel-master',
    placeholder: 'NAME',
    locates: true,
    description: 'the name the Sentinels know the source by (sentinel monitor NAME …)',
  }),
  sentinelPassword: z.string().optional().meta({
    flag: 'sentinel-password',
    placeholder: 'PW',
    secret: true,
    description: "the Sentinels' own password (their requirepass), when they have one",
  }),
  password: z.string().optional().meta({
    role: 'password',
    secret: true,
    description: "the source servers' password",
  }),
  preferReplica: z.boolean().optional().meta({
    role: 'preferReplica',
    description: 'read from an in-sync replica when there is one (default true)',
  }),
  watchIntervalMs: z.number().int().min(100).optional().meta({
    flag: false,
    description: 'how often the Sentinels are asked for the primary while migrating, in ms (default 1000)',
  }),
});

export type SentinelOptions = z.output<typeof options>;

function sentinelsOf(o: SentinelOptions): Endpoint[] {
  const list = (Array.isArray(o.sentinels) ? o.sentinels : o.sentinels.split(/[\s,]+/)).filter(Boolean);
  if (list.length === 0)
    throw new PluginError('CONFIG_INVALID', 'give at least one Sentinel: --sentinel host:port');
  return list.map((text) => {
    const m = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(text.trim());
    if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535)
      throw new PluginError('CONFIG_INVALID', `Sentinel "${text}" is not host:port`);
    return { host: m[1] as string, port: Number(m[2]) };
  });
}

/** Asks the Sentinels in turn until one answers; the errors of all of them when none does. */
async function ask<T>(o: SentinelOptions, signal: AbortSignal, fn: (c: Redis) => Promise<T>): Promise<T> {
  const problems: string[] = [];
  let authFailed = false;
  for (const s of sentinelsOf(o)) {
    signal.throwIfAborted();
    const c = new Redis({
      host: s.host,
      port: s.port,
      ...(o.sentinelPassword ? { password: o.sentinelPassword } : {}),
      lazyConnect: true,
      connectTimeout: 3000,
      commandTimeout: 3000,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      retryStrategy: () => null,
    });
    c.on('error', () => undefined); // reported through the failed command below
    try {
      await c.connect();
      return await fn(c);
    } catch (err) {
      if (err instanceof PluginError) throw err; // an answer, if not the one hoped for
      const text = (err as Error).message;
      if (/WRONGPASS|NOAUTH|invalid password|invalid username-password/i.test(text)) authFailed = true;
      problems.push(`Sentinel ${s.host}:${s.port}: ${text}`);
    } finally {
      c.disconnect();
    }
  }
  throw new PluginError(
    authFailed ? 'AUTH_FAILED' : 'CONNECTION_FAILED',
    `no Sentinel answered for "${o.masterName}": ${problems.join('; ')}`,
  );
}

/** `[k1, v1, k2, v2…]` as a record (how Sentinel describes a replica). */
function fields(flat: unknown): Record<string, string> {
  const a = Array.isArray(flat) ? flat.map(String) : [];
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < a.length; i += 2) out[a[i] as string] = a[i + 1] as string;
  return out;
}

/** The source as the Sentinels see it now: its primary and the replicas they find healthy. */
async function current(o: SentinelOptions, signal: AbortSignal): Promise<ShardSpec> {
  return ask(o, signal, async (c) => {
    const addr = (await c.call('SENTINEL', 'get-master-addr-by-name', o.masterName)) as string[] | null;
    if (!addr)
      throw new PluginError(
        'CONFIG_INVALID',
        `the Sentinels know no master "${o.masterName}": give the name of their "sentinel monitor" line`,
      );
    let replicas: unknown[];
    try {
      replicas = (await c.call('SENTINEL', 'replicas', o.masterName)) as unknown[];
    } catch {
      replicas = (await c.call('SENTINEL', 'slaves', o.masterName)) as unknown[]; // before Redis 5
    }
    const creds = o.password ? { password: o.password } : {};
    return {
      id: o.masterName.replace(/[^A-Za-z0-9._:-]/g, '_').slice(0, 100) || 'sentinel',
      primary: { host: addr[0] as string, port: Number(addr[1]), ...creds },
      replicas: replicas
        .map(fields)
        .filter((r) => !/s_down|o_down|disconnected/.test(r.flags ?? '') && r['master-link-status'] === 'ok')
        .map((r) => ({ host: r.ip as string, port: Number(r.port), ...creds })),
      preferReplica: o.preferReplica !== false,
    };
  });
}

/**
 * A source found through Redis Sentinel: the Sentinels name the primary and its replicas, Ferry
 * reads from a replica when there is one, and a failover the Sentinels carry out moves the task's
 * link to the new primary (by PSYNC, from where it was).
 */
export function sourceSentinel() {
  return defineSourceTopology({
    meta: META,
    topology: 'sentinel',
    options,
    parseOptions(raw) {
      const o = options.safeParse(raw ?? {});
      if (!o.success)
        throw new PluginError(
          'CONFIG_INVALID',
          `sentinel options: ${o.error.issues.map((i) => `${i.path.join('.') || 'options'}: ${i.message}`).join('; ')}`,
        );
      sentinelsOf(o.data); // refused now, not at the first connection
      return o.data;
    },
    async discover(o: SentinelOptions, ctx: PluginContext): Promise<ShardSpec[]> {
      return [await current(o, ctx.signal)];
    },
    async *watch(o: SentinelOptions, ctx: PluginContext): AsyncIterable<TopologyChange> {
      let known = await current(o, ctx.signal).catch(() => undefined);
      while (!ctx.signal.aborted) {
        await sleep(o.watchIntervalMs ?? 1000, undefined, { signal: ctx.signal }).catch(() => undefined);
        if (ctx.signal.aborted) return;
        let now: ShardSpec;
        try {
          now = await current(o, ctx.signal);
        } catch (err) {
          ctx.log.warn(`sentinel: ${(err as Error).message}`);
          continue;
        }
        if (known && (now.primary.host !== known.primary.host || now.primary.port !== known.primary.port))
          yield {
            kind: 'failover',
            shard: now,
            detail: `the Sentinels moved "${o.masterName}" from ${known.primary.host}:${known.primary.port} to ${now.primary.host}:${now.primary.port}`,
          };
        known = now;
      }
    },
  });
}

/** What `ferry --plugin @ferry/example-source-sentinel` and FERRY_PLUGINS load. */
export function plugins() {
  return [sourceSentinel()];
}
