import {
  type Endpoint,
  endpointName,
  type PluginContext,
  type ShardSpec,
  type SourceTopologyPlugin,
  toEndpoint,
} from '@ferry/core';
import { FerryError } from '@ferry/errors';
import { nodesOption, z } from '@ferry/plugin-sdk';
import { sourceStandalone } from '@ferry/source-standalone';
import { type NutcrackerPool, parseNutcracker, readNutcracker } from './config.js';

export { type NutcrackerPool, type NutcrackerServer, parseNutcracker, parseServer } from './config.js';

export interface TwemproxySourceOptions {
  /** The backends, one shard each, with the name they go by (nutcracker.yml's server name, or host:port). */
  backends: Array<{ name: string; endpoint: Endpoint }>;
  /** The pool read from nutcracker.yml, when the backends came from one. */
  pool?: string;
}

/** A shard id from a server name: letters, digits, . _ - : kept, the rest replaced. */
function shardId(name: string): string {
  return name.replace(/[^A-Za-z0-9._:-]/g, '_').slice(0, 100) || 'backend';
}

function fromPool(p: NutcrackerPool, password: string | undefined): TwemproxySourceOptions {
  const pw = password ?? p.redisAuth;
  return {
    pool: p.name,
    backends: p.servers.map((s) => ({
      name: s.name ?? `${s.host}:${s.port}`,
      endpoint: { host: s.host, port: s.port, ...(pw ? { password: pw } : {}) },
    })),
  };
}

/**
 * The Redis servers behind a twemproxy (nutcracker) pool as the source: twemproxy itself cannot be
 * replicated from, so each backend is a shard with its own replication link. The backends come
 * from the operators' nutcracker.yml (`config` file or `configText`, `pool` when it has several) or
 * an explicit `nodes` list.
 */
export function sourceTwemproxy(): SourceTopologyPlugin<TwemproxySourceOptions> {
  const standalone = sourceStandalone();
  return {
    kind: 'source-topology',
    topology: 'twemproxy',
    meta: { name: '@ferry/source-twemproxy', version: '0.1.0', engine: '^0.1.0' },
    options: z.object({
      config: z.string().optional().meta({
        flag: 'nutcracker-config',
        path: true,
        locates: true,
        placeholder: 'FILE',
        description: "the pool's backends from this nutcracker.yml",
      }),
      configText: z.string().optional().meta({ flag: false, description: "the nutcracker.yml's content" }),
      pool: z.string().optional().meta({
        flag: 'pool',
        placeholder: 'NAME',
        description: 'the pool in nutcracker.yml (needed when it has several)',
      }),
      nodes: nodesOption('the backends, one shard each, instead of a nutcracker.yml', 'backend').optional(),
      password: z
        .string()
        .optional()
        .meta({ role: 'password', secret: true, description: "the backends' password" }),
    }),
    parseOptions(raw: unknown): TwemproxySourceOptions {
      const o = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
      for (const k of ['config', 'configText', 'pool', 'password'])
        if (o[k] !== undefined && typeof o[k] !== 'string')
          throw new FerryError('CONFIG_INVALID', `${k} must be text`);
      const password = o.password as string | undefined;
      const given = [o.config, o.configText, o.nodes].filter((x) => x !== undefined).length;
      if (given !== 1)
        throw new FerryError(
          'CONFIG_INVALID',
          'the twemproxy source needs exactly one of: config (the nutcracker.yml path), configText (its content), nodes (the backends, host:port[:password])',
        );
      if (typeof o.config === 'string')
        return fromPool(readNutcracker(o.config, o.pool as string | undefined), password);
      if (typeof o.configText === 'string')
        return fromPool(parseNutcracker(o.configText, o.pool as string | undefined), password);
      const list = Array.isArray(o.nodes)
        ? o.nodes
        : typeof o.nodes === 'string'
          ? o.nodes.split(/[\s,]+/).filter(Boolean)
          : [];
      if (list.length === 0)
        throw new FerryError('CONFIG_INVALID', 'nodes lists no backend (host:port[:password])');
      const backends = list.map((n, i) => {
        const e = toEndpoint(n, `backend ${i + 1}`);
        const endpoint = password && e.password === undefined ? { ...e, password } : e;
        return { name: endpointName(e), endpoint };
      });
      return { backends };
    },
    async discover(opts: TwemproxySourceOptions, ctx: PluginContext): Promise<ShardSpec[]> {
      const shards = await Promise.all(
        opts.backends.map(async (b) => {
          try {
            const [s] = await standalone.discover({ nodes: [b.endpoint], preferReplica: true }, ctx);
            return { ...(s as ShardSpec), id: shardId(b.name) };
          } catch (err) {
            const e = err as FerryError;
            throw new FerryError(e.code ?? 'CONNECTION_FAILED', `twemproxy backend ${b.name}: ${e.message}`, {
              cause: err,
            });
          }
        }),
      );
      const primaries = new Map<string, string>();
      for (const s of shards) {
        const p = endpointName(s.primary);
        const other = primaries.get(p);
        if (other)
          throw new FerryError(
            'CONFIG_INVALID',
            `backends ${other} and ${s.id} are the same server (${p}) or replicas of it: list each shard once`,
          );
        primaries.set(p, s.id);
      }
      return shards;
    },
  };
}
