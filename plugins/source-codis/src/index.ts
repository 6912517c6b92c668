import { setTimeout as sleep } from 'node:timers/promises';
import {
  type Endpoint,
  endpointName,
  type PluginContext,
  parseNodeSpec,
  type ShardSpec,
  type SourceTopologyPlugin,
  type TopologyChange,
} from '@ferry/core';
import { FerryError } from '@ferry/errors';
import { nodesOption, z } from '@ferry/plugin-sdk';
import { sourceStandalone } from '@ferry/source-standalone';
import { type CodisTopology, describeMoves, fetchTopom } from './dashboard.js';

export { type CodisGroup, type CodisTopology, parseTopom } from './dashboard.js';

export interface CodisSourceOptions {
  /** Explicit mode: one entry per group, its master first and optionally its replicas (`a,b`) — or just the masters. */
  groups?: Array<{ name: string; nodes: Endpoint[] }>;
  /** Dashboard mode: the codis-dashboard's HTTP address (`http://host:18080`). */
  dashboard?: string;
  /** The codis-servers' password (the product's `product_auth`, which the dashboard does not show). */
  password?: string;
  preferReplica: boolean;
  watchIntervalMs: number;
}

/** The slots of group `id` as inclusive ranges. */
function slotRanges(slotGroups: number[], id: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let s = 0; s < slotGroups.length; s++) {
    if (slotGroups[s] !== id) continue;
    const last = out.at(-1);
    if (last && last[1] === s - 1) last[1] = s;
    else out.push([s, s]);
  }
  return out;
}

function withPassword(e: Endpoint, password: string | undefined): Endpoint {
  return password && e.password === undefined ? { ...e, password } : e;
}

/**
 * A Codis deployment as the source. Its groups are ordinary replication sources (codis-server is a
 * Redis 3.2 fork; codis-proxy refuses PSYNC). Either the group masters are listed (`nodes`, one per
 * line as operators paste them) or the codis-dashboard is asked (`dashboard`): groups, their servers
 * (the first is the master), and the slots with their migration state. A slot migration in progress
 * refuses the start; one that starts during the task pauses it (dashboard mode, which sees it).
 */
export function sourceCodis(): SourceTopologyPlugin<CodisSourceOptions> {
  const standalone = sourceStandalone();

  async function groupShard(
    name: string,
    nodes: Endpoint[],
    opts: CodisSourceOptions,
    ctx: PluginContext,
    slots?: Array<[number, number]>,
  ): Promise<ShardSpec> {
    try {
      const [s] = await standalone.discover({ nodes, preferReplica: opts.preferReplica }, ctx);
      // the group's slots say which keys are its own (a re-snapshot then removes only those)
      return { ...(s as ShardSpec), id: name, ...(slots ? { slots, slotScheme: 'codis' as const } : {}) };
    } catch (err) {
      const e = err as FerryError;
      throw new FerryError(e.code ?? 'CONNECTION_FAILED', `codis ${name}: ${e.message}`, { cause: err });
    }
  }

  function fromDashboard(
    t: CodisTopology,
    opts: CodisSourceOptions,
  ): Array<{ name: string; nodes: Endpoint[]; slots: Array<[number, number]> }> {
    if (t.moving.length > 0)
      throw new FerryError(
        'SOURCE_NOT_READY',
        `a slot migration is in progress in Codis (${describeMoves(t.moving)}): wait until it has finished (codis-dashboard, Slots) and start again`,
        { details: { slots: t.moving.length } },
      );
    const unassigned = t.slotGroups.filter((g) => g === 0).length;
    if (unassigned > 0)
      throw new FerryError(
        'SOURCE_NOT_READY',
        `${unassigned} of the 1024 Codis slots are not assigned to a group: assign them (codis-dashboard, Slots) first`,
      );
    const used = new Set(t.slotGroups);
    const out: Array<{ name: string; nodes: Endpoint[]; slots: Array<[number, number]> }> = [];
    for (const g of t.groups) {
      if (!used.has(g.id)) continue; // a group without slots holds no data Codis serves
      if (g.servers.length === 0)
        throw new FerryError('SOURCE_NOT_READY', `codis group ${g.id} serves slots but has no server`);
      if (g.promoting)
        throw new FerryError(
          'SOURCE_NOT_READY',
          `codis group ${g.id} is promoting a new master (${g.promoting}): start again once it is done`,
        );
      out.push({
        name: `group-${g.id}`,
        slots: slotRanges(t.slotGroups, g.id),
        nodes: g.servers.map((s, i) =>
          withPassword(parseNodeSpec(s, `codis group ${g.id} server ${i + 1}`), opts.password),
        ),
      });
    }
    for (const id of used) {
      if (id !== 0 && !t.groups.some((g) => g.id === id))
        throw new FerryError(
          'PROTOCOL_ERROR',
          `codis slots are assigned to group ${id}, which the dashboard does not list`,
        );
    }
    return out;
  }

  return {
    kind: 'source-topology',
    topology: 'codis',
    meta: { name: '@ferry/source-codis', version: '0.1.0', engine: '^0.1.0' },
    options: z.object({
      dashboard: z.string().optional().meta({
        flag: 'codis-dashboard',
        locates: true,
        placeholder: 'http://host:18080',
        description: 'groups and slots from codis-dashboard',
      }),
      nodes: nodesOption(
        'the group masters, one per group (a line may add its replicas after a comma)',
        'group master',
      ).optional(),
      password: z.string().optional().meta({
        role: 'password',
        secret: true,
        description: "the codis-servers' password (the product's product_auth)",
      }),
      preferReplica: z.boolean().optional().meta({
        role: 'preferReplica',
        description: 'read from an in-sync replica when there is one (default true)',
      }),
      watchIntervalMs: z.number().min(50).optional().meta({
        flag: false,
        description: 'how often the slots are read while migrating, in ms (default 2000)',
      }),
    }),
    parseOptions(raw: unknown): CodisSourceOptions {
      const o = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
      if (o.password !== undefined && typeof o.password !== 'string')
        throw new FerryError('CONFIG_INVALID', 'password must be text');
      if (o.preferReplica !== undefined && typeof o.preferReplica !== 'boolean')
        throw new FerryError('CONFIG_INVALID', 'preferReplica must be true or false');
      const every = o.watchIntervalMs ?? 2000;
      if (typeof every !== 'number' || !Number.isFinite(every) || every < 50)
        throw new FerryError('CONFIG_INVALID', 'watchIntervalMs must be a number ≥ 50');
      const base = {
        ...(typeof o.password === 'string' ? { password: o.password } : {}),
        preferReplica: o.preferReplica !== false,
        watchIntervalMs: every,
      };
      if ((o.nodes === undefined) === (o.dashboard === undefined))
        throw new FerryError(
          'CONFIG_INVALID',
          'the codis source needs either nodes (the group masters, host:port[:password], one per line) or dashboard (the codis-dashboard address, http://host:18080)',
        );
      if (o.dashboard !== undefined) {
        if (typeof o.dashboard !== 'string' || !/^https?:\/\/[^/\s]+/.test(o.dashboard))
          throw new FerryError(
            'CONFIG_INVALID',
            `dashboard must be an http:// address, got ${JSON.stringify(o.dashboard)}`,
          );
        return { ...base, dashboard: o.dashboard };
      }
      // one group per line; a line may add the group's replicas after a comma
      const lines = Array.isArray(o.nodes)
        ? o.nodes
        : typeof o.nodes === 'string'
          ? o.nodes
              .split(/\r?\n/)
              .map((l) => l.trim())
              .filter((l) => l && !l.startsWith('#'))
          : [];
      if (lines.length === 0) throw new FerryError('CONFIG_INVALID', 'nodes lists no codis group master');
      const groups = lines.map((line, i) => {
        if (typeof line !== 'string')
          throw new FerryError('CONFIG_INVALID', `group ${i + 1} must be "host:port[:password]"`);
        const nodes = line
          .split(/[\s,]+/)
          .filter(Boolean)
          .map((n, j) => withPassword(parseNodeSpec(n, `codis group ${i + 1} node ${j + 1}`), base.password));
        return { name: `group-${i + 1}`, nodes };
      });
      return { ...base, groups };
    },

    async discover(opts: CodisSourceOptions, ctx: PluginContext): Promise<ShardSpec[]> {
      let groups: Array<{ name: string; nodes: Endpoint[]; slots?: Array<[number, number]> }> | undefined =
        opts.groups;
      if (opts.dashboard) {
        const t = await fetchTopom(opts.dashboard, ctx.signal);
        groups = fromDashboard(t, opts);
        ctx.log.info(
          `codis ${t.version}${t.product ? ` product ${t.product}` : ''}: ${groups.length} groups`,
        );
      }
      const shards = await Promise.all(
        (groups ?? []).map((g) => groupShard(g.name, g.nodes, opts, ctx, g.slots)),
      );
      const seen = new Map<string, string>();
      for (const s of shards) {
        const p = endpointName(s.primary);
        const other = seen.get(p);
        if (other)
          throw new FerryError(
            'CONFIG_INVALID',
            `codis ${other} and ${s.id} have the same master ${p}: list each group once`,
          );
        seen.set(p, s.id);
      }
      return shards;
    },

    async *watch(opts: CodisSourceOptions, ctx: PluginContext): AsyncIterable<TopologyChange> {
      if (!opts.dashboard) return; // a list of masters shows no slot state: nothing to watch
      const { signal } = ctx;
      let moving = '';
      let masters = new Map<number, string>();
      while (!signal.aborted) {
        await sleep(opts.watchIntervalMs, undefined, { signal }).catch(() => undefined);
        if (signal.aborted) return;
        let t: CodisTopology;
        try {
          t = await fetchTopom(opts.dashboard, signal);
        } catch (err) {
          if (signal.aborted) return;
          ctx.log.debug(`codis watch: ${(err as Error).message}`);
          continue;
        }
        const now = t.moving.length > 0 ? describeMoves(t.moving) : '';
        if (now && now !== moving) {
          yield {
            kind: 'slots-moving',
            shardId: `group-${t.moving[0]?.from ?? 0}`,
            slots: t.moving.map((m) => m.slot),
            pause: true,
            detail: `a Codis slot migration started (${now}); Ferry cannot follow keys between groups while it runs`,
          };
        }
        moving = now;
        const next = new Map(t.groups.map((g) => [g.id, g.servers[0] ?? '']));
        for (const [id, master] of next) {
          const before = masters.get(id);
          if (before && master && before !== master) {
            const g = t.groups.find((x) => x.id === id);
            yield {
              kind: 'failover',
              detail: `codis group ${id}: ${master} replaced ${before} as master`,
              shard: {
                id: `group-${id}`,
                primary: withPassword(parseNodeSpec(master, `codis group ${id}`), opts.password),
                replicas: (g?.servers.slice(1) ?? []).map((s) =>
                  withPassword(parseNodeSpec(s, `codis group ${id}`), opts.password),
                ),
                preferReplica: opts.preferReplica,
              },
            };
          }
        }
        masters = next;
      }
    },
  };
}
