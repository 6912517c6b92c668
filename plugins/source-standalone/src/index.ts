import {
  connectEndpoint,
  type Endpoint,
  endpointName,
  type PluginContext,
  parseNodeList,
  type ShardSpec,
  type SourceTopologyPlugin,
} from '@ferry/core';
import { FerryError } from '@ferry/errors';
import { nodesOption, z } from '@ferry/plugin-sdk';

export interface StandaloneSourceOptions {
  /** The server, or any mix of it and its replicas: roles are read from each node's INFO. */
  nodes: Endpoint[];
  /** Read from a replica when one is given (default true): the primary only serves its usual clients. */
  preferReplica: boolean;
}

interface Role {
  endpoint: Endpoint;
  role: 'master' | 'slave';
  masterHost?: string;
  masterPort?: number;
  linkUp: boolean;
}

async function roleOf(e: Endpoint, signal: AbortSignal): Promise<Role> {
  const conn = await connectEndpoint(e, signal);
  try {
    const info = String(await conn.send(['INFO', 'replication']));
    const get = (f: string): string | undefined => new RegExp(`^${f}:(.*)\\r?$`, 'm').exec(info)?.[1]?.trim();
    const role = get('role') === 'slave' ? 'slave' : 'master';
    const host = get('master_host');
    const port = get('master_port');
    return {
      endpoint: e,
      role,
      ...(host ? { masterHost: host } : {}),
      ...(port ? { masterPort: Number(port) } : {}),
      linkUp: get('master_link_status') === 'up',
    };
  } finally {
    conn.destroy();
  }
}

/**
 * One Redis server as the source. Give it the server, and optionally replicas of it: Ferry reads
 * from an in-sync replica when there is one, so the primary does no BGSAVE for the migration.
 */
export function sourceStandalone(): SourceTopologyPlugin<StandaloneSourceOptions> {
  return {
    kind: 'source-topology',
    topology: 'standalone',
    options: z.object({
      nodes: nodesOption(
        'the server and/or replicas of it: Ferry reads from an in-sync replica when one is given',
      ),
      preferReplica: z.boolean().optional().meta({
        role: 'preferReplica',
        description: 'read from an in-sync replica when there is one (default true)',
      }),
    }),
    meta: { name: '@ferry/source-standalone', version: '0.1.0', engine: '^0.1.0' },
    parseOptions(raw: unknown): StandaloneSourceOptions {
      const o = (typeof raw === 'object' && raw !== null ? raw : {}) as {
        nodes?: unknown;
        preferReplica?: unknown;
      };
      const nodes = parseNodeList(
        o.nodes,
        'the standalone source needs at least one node (host:port[:password])',
      );
      if (o.preferReplica !== undefined && typeof o.preferReplica !== 'boolean')
        throw new FerryError('CONFIG_INVALID', 'preferReplica must be true or false');
      return { nodes, preferReplica: o.preferReplica !== false };
    },
    async discover(opts: StandaloneSourceOptions, ctx: PluginContext): Promise<ShardSpec[]> {
      const roles = await Promise.all(opts.nodes.map((n) => roleOf(n, ctx.signal)));
      const masters = roles.filter((r) => r.role === 'master');
      if (masters.length > 1) {
        throw new FerryError(
          'CONFIG_INVALID',
          `the standalone source was given ${masters.length} primaries (${masters.map((m) => endpointName(m.endpoint)).join(', ')}): give one server and its replicas; for several shards use the cluster, codis or twemproxy topology`,
        );
      }
      const replicas = roles.filter((r) => r.role === 'slave');
      let primary = masters[0]?.endpoint;
      if (!primary) {
        // only replicas given: their primary is the source (with the same credentials)
        const first = replicas[0] as Role;
        if (!first.masterHost || !first.masterPort)
          throw new FerryError(
            'CONFIG_INVALID',
            `${endpointName(first.endpoint)} is a replica without a primary`,
          );
        primary = { ...first.endpoint, host: first.masterHost, port: first.masterPort };
      }
      const usable = replicas.filter((r) => r.linkUp);
      for (const r of replicas.filter((x) => !x.linkUp)) {
        ctx.emit('task:warning', {
          taskId: ctx.taskId,
          message: `replica ${endpointName(r.endpoint)} is not in sync with its primary (master_link_status not up): not used`,
        });
      }
      return [
        {
          id: 'standalone',
          primary,
          replicas: opts.preferReplica ? usable.map((r) => r.endpoint) : [],
        },
      ];
    },
  };
}
