import { setTimeout as sleep } from 'node:timers/promises';
import {
  connectEndpoint,
  type Endpoint,
  endpointName,
  type PluginContext,
  parseNodeList,
  type ShardSpec,
  type SourceTopologyPlugin,
  type TopologyChange,
} from '@ferry/core';
import { FerryError, isFerryError } from '@ferry/errors';
import { nodesOption, z } from '@ferry/plugin-sdk';
import { ReplyError, type RespConnection } from '@ferry/resp';
import {
  type ClusterShard,
  type ClusterView,
  nodeEndpoint,
  parseClusterNodes,
  parseClusterShards,
  shardName,
  shardsOf,
  shortId,
} from './view.js';

export type { ClusterNode, ClusterShard, ClusterView, SlotMove } from './view.js';
export { parseClusterNodes, parseClusterShards, shardsOf } from './view.js';

export interface ClusterSourceOptions {
  /** Seed nodes (any node of the cluster; more than one in case one is down). Their credentials are used for every node. */
  nodes: Endpoint[];
  /** Read each shard from an in-sync replica when it has one (default true). */
  preferReplica: boolean;
  /** How often the topology is read while migrating, in ms (default 1000). */
  watchIntervalMs: number;
}

function credentials(e: Endpoint): Omit<Endpoint, 'host' | 'port'> {
  return {
    ...(e.username ? { username: e.username } : {}),
    ...(e.password !== undefined ? { password: e.password } : {}),
    ...(e.tls ? { tls: true } : {}),
  };
}

function open(e: Endpoint, signal: AbortSignal): Promise<RespConnection> {
  return connectEndpoint(e, signal, { connectMs: 5_000 });
}

/** The topology as one seed sees it: CLUSTER SHARDS (7.0+), else CLUSTER NODES (3.0+). */
async function readView(seed: Endpoint, signal: AbortSignal, withMoves: boolean): Promise<ClusterView> {
  const conn = await open(seed, signal);
  try {
    if (!withMoves) {
      try {
        return parseClusterShards(await conn.send(['CLUSTER', 'SHARDS']), seed.host);
      } catch (err) {
        if (
          !(err instanceof ReplyError) ||
          !/unknown (sub)?command|unknown subcommand|syntax/i.test(err.message)
        )
          throw err;
      }
    }
    return parseClusterNodes(String(await conn.send(['CLUSTER', 'NODES'])), seed.host);
  } catch (err) {
    if (err instanceof ReplyError && /cluster support disabled/i.test(err.message)) {
      throw new FerryError(
        'CONFIG_INVALID',
        `source ${endpointName(seed)} is not a cluster node (cluster support disabled): use the standalone topology`,
        { cause: err },
      );
    }
    throw err;
  } finally {
    conn.destroy();
  }
}

/** First seed that answers; every seed's error when none does. */
async function firstView(
  seeds: Endpoint[],
  signal: AbortSignal,
  withMoves: boolean,
): Promise<{ view: ClusterView; seed: Endpoint }> {
  const errors: string[] = [];
  let last: unknown;
  for (const seed of seeds) {
    try {
      return { view: await readView(seed, signal, withMoves), seed };
    } catch (err) {
      if (isFerryError(err) && (err.code === 'CONFIG_INVALID' || err.code === 'AUTH_FAILED')) throw err;
      if (signal.aborted) throw err;
      last = err;
      errors.push(`${endpointName(seed)}: ${(err as Error).message}`);
    }
  }
  throw new FerryError(
    isFerryError(last) ? last.code : 'CONNECTION_FAILED',
    `no seed node of the source cluster answered (${errors.join('; ')})`,
    { cause: last },
  );
}

/** True when the replica reports its link to the primary up (it holds the primary's data). */
async function inSync(e: Endpoint, signal: AbortSignal): Promise<boolean> {
  try {
    const conn = await open(e, signal);
    try {
      return /master_link_status:up/.test(String(await conn.send(['INFO', 'replication'])));
    } finally {
      conn.destroy();
    }
  } catch {
    return false;
  }
}

/** Slot → shard id. */
function ownerMap(shards: ShardSpec[]): Array<string | undefined> {
  const out = new Array<string | undefined>(16384).fill(undefined);
  for (const s of shards) for (const [a, b] of s.slots ?? []) for (let i = a; i <= b; i++) out[i] = s.id;
  return out;
}

function slotsOf(s: ClusterShard): Array<[number, number]> {
  return s.master.slots.map(([a, b]) => [a, b] as [number, number]).sort((x, y) => x[0] - y[0]);
}

/** The shard as the engine reads it (replicas in sync first when preferred). */
async function toSpec(
  s: ClusterShard,
  opts: ClusterSourceOptions,
  creds: Omit<Endpoint, 'host' | 'port'>,
  signal: AbortSignal,
  checkSync: boolean,
): Promise<ShardSpec> {
  // at discovery each candidate says itself whether it is in sync (the cluster's gossip may lag);
  // while watching, the gossip's view is what there is
  const candidates = s.replicas.filter((r) => (checkSync ? !r.failed : r.healthy));
  let replicas = candidates.map((r) => nodeEndpoint(r, creds));
  if (opts.preferReplica && checkSync) {
    const ok = await Promise.all(replicas.map((r) => inSync(r, signal)));
    replicas = replicas.filter((_, i) => ok[i]);
  }
  return {
    id: shardName(s),
    primary: nodeEndpoint(s.master, creds),
    replicas,
    slots: slotsOf(s),
    aliases: [s.master.id, ...s.replicas.map((r) => r.id)].map(shortId),
    preferReplica: opts.preferReplica,
  };
}

/**
 * A Redis Cluster as the source: discovered from any seed, one replication link per shard (from an
 * in-sync replica when preferred), all 16 384 slots required. While migrating the topology is read
 * every second: a promoted replica moves the shard's link to it (PSYNC of the same history; psync2
 * continues it), slots moving between shards are reported, added or removed shards too.
 */
export function sourceCluster(): SourceTopologyPlugin<ClusterSourceOptions> {
  return {
    kind: 'source-topology',
    topology: 'cluster',
    options: z.object({
      nodes: nodesOption('seed nodes of the cluster (any node; their credentials are used for every node)'),
      preferReplica: z.boolean().optional().meta({
        role: 'preferReplica',
        description: 'read from an in-sync replica when there is one (default true)',
      }),
      watchIntervalMs: z.number().min(50).optional().meta({
        flag: false,
        description: 'how often the topology is read while migrating, in ms (default 1000)',
      }),
    }),
    meta: { name: '@ferry/source-cluster', version: '0.1.0', engine: '^0.1.0' },
    parseOptions(raw: unknown): ClusterSourceOptions {
      const o = (typeof raw === 'object' && raw !== null ? raw : {}) as {
        nodes?: unknown;
        preferReplica?: unknown;
        watchIntervalMs?: unknown;
      };
      const nodes = parseNodeList(
        o.nodes,
        'the cluster source needs at least one seed node (host:port[:password]) of the cluster',
      );
      if (o.preferReplica !== undefined && typeof o.preferReplica !== 'boolean')
        throw new FerryError('CONFIG_INVALID', 'preferReplica must be true or false');
      const every = o.watchIntervalMs ?? 1000;
      if (typeof every !== 'number' || !Number.isFinite(every) || every < 50)
        throw new FerryError('CONFIG_INVALID', 'watchIntervalMs must be a number ≥ 50');
      return {
        nodes,
        preferReplica: o.preferReplica !== false,
        watchIntervalMs: every,
      };
    },

    async discover(opts: ClusterSourceOptions, ctx: PluginContext): Promise<ShardSpec[]> {
      const { view, seed } = await firstView(opts.nodes, ctx.signal, false);
      const shards = shardsOf(view);
      const creds = credentials(seed);
      const specs = await Promise.all(shards.map((s) => toSpec(s, opts, creds, ctx.signal, true)));
      for (const [i, s] of shards.entries()) {
        const spec = specs[i] as ShardSpec;
        const dropped = s.replicas.filter((r) => !r.failed).length - spec.replicas.length;
        if (opts.preferReplica && dropped > 0)
          ctx.emit('task:warning', {
            taskId: ctx.taskId,
            shardId: spec.id,
            message: `${dropped} replica(s) of ${endpointName(spec.primary)} are not in sync with it: not read from`,
          });
      }
      return specs;
    },

    async *watch(opts: ClusterSourceOptions, ctx: PluginContext): AsyncIterable<TopologyChange> {
      const { signal } = ctx;
      let known: ShardSpec[] | undefined;
      let lastOwners: Array<string | undefined> | undefined;
      const reported = new Set<string>();
      const seeds = [...opts.nodes];
      while (!signal.aborted) {
        await sleep(opts.watchIntervalMs, undefined, { signal }).catch(() => undefined);
        if (signal.aborted) return;
        let view: ClusterView;
        let seed: Endpoint;
        try {
          ({ view, seed } = await firstView(seeds, signal, true));
        } catch (err) {
          if (signal.aborted) return;
          ctx.log.debug(`cluster watch: ${(err as Error).message}`);
          continue;
        }
        const creds = credentials(seed);
        // every node becomes a seed for the next read (the given seeds may be the ones that fail)
        for (const n of view.nodes)
          if (n.healthy && !seeds.some((s) => s.host === n.host && s.port === n.port))
            seeds.push(nodeEndpoint(n, creds));
        let shards: ClusterShard[];
        try {
          shards = shardsOf(view);
        } catch {
          continue; // mid-failover (slots on a failed master): read again
        }
        const specs = await Promise.all(shards.map((s) => toSpec(s, opts, creds, signal, false)));
        // a node shows only its own slots' migration state: ask every primary
        const moving = (
          await Promise.all(
            shards.map((s) =>
              readView(nodeEndpoint(s.master, creds), signal, true).then(
                (v) => v.moving.filter((m) => m.from === s.master.id),
                () => [],
              ),
            ),
          )
        ).flat();
        if (!known) {
          known = specs;
        } else {
          const matched = new Set<ShardSpec>();
          for (const spec of specs) {
            const old = known.find(
              (k) => k.id === spec.id || k.aliases?.some((a) => spec.aliases?.includes(a)),
            );
            if (!old) continue;
            matched.add(old);
            const merged: ShardSpec = {
              ...spec,
              id: old.id,
              aliases: [...new Set([...(old.aliases ?? []), ...(spec.aliases ?? [])])],
            };
            if (old.primary.host !== spec.primary.host || old.primary.port !== spec.primary.port) {
              yield {
                kind: 'failover',
                shard: merged,
                detail: `shard ${old.id}: ${endpointName(spec.primary)} replaced ${endpointName(old.primary)} as primary`,
              };
            }
            Object.assign(old, merged);
          }
          const added = specs.filter(
            (s) => !known?.some((k) => k.id === s.id || k.aliases?.some((a) => s.aliases?.includes(a))),
          );
          const gone = known.filter((k) => !matched.has(k));
          if (added.length > 0 || gone.length > 0) {
            const what = [
              ...added.map((s) => `new shard ${s.id} at ${endpointName(s.primary)}`),
              ...gone.map((s) => `shard ${s.id} (${endpointName(s.primary)}) no longer serves slots`),
            ].join('; ');
            if (!reported.has(what)) {
              reported.add(what);
              yield { kind: 'shards-changed', shards: specs, detail: `the source cluster changed: ${what}` };
            }
            known.push(...added);
          }
        }
        // slot migrations: in progress (a node's own [slot->-id]) or done since the last read (owner changed)
        const pairs = new Map<string, { slots: number[]; done: boolean }>();
        const add = (from: string, to: string, slot: number, done: boolean): void => {
          const k = `${from}>${to}>${done}`;
          const e = pairs.get(k) ?? { slots: [], done };
          e.slots.push(slot);
          pairs.set(k, e);
        };
        for (const m of moving) {
          const from = known.find((k) => k.aliases?.includes(shortId(m.from)))?.id ?? shortId(m.from);
          const to = known.find((k) => k.aliases?.includes(shortId(m.to)))?.id ?? shortId(m.to);
          if (reported.has(`${from}>${to}:${m.slot}`)) continue;
          reported.add(`${from}>${to}:${m.slot}`);
          add(from, to, m.slot, false);
        }
        const owners = ownerMap(known);
        if (lastOwners) {
          for (let slot = 0; slot < owners.length; slot++) {
            const was = lastOwners[slot];
            const now = owners[slot];
            if (was && now && was !== now) {
              reported.delete(`${was}>${now}:${slot}`);
              add(was, now, slot, true);
            }
          }
        }
        lastOwners = owners;
        for (const [pair, { slots, done }] of pairs) {
          const [from, to] = pair.split('>') as [string, string];
          const list = `${slots.slice(0, 10).join(', ')}${slots.length > 10 ? `, … (${slots.length} slots)` : ''}`;
          yield {
            kind: 'slots-moving',
            shardId: from,
            slots,
            detail: `slot(s) ${list} ${done ? 'moved' : 'moving'} from shard ${from} to shard ${to} on the source; the migration's DEL is not applied for keys the other shard restored`,
          };
        }
      }
    },
  };
}
