import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Cluster, type ClusterOptions } from 'ioredis';
import { TestkitError } from '../errors.js';
import { ClientRegistry, withClient } from '../internal/client.js';
import type { Endpoint } from '../types.js';
import { waitFor } from '../wait.js';
import { RedisServer, type StartRedisOptions } from './redis.js';

const execFileAsync = promisify(execFile);

export interface StartClusterOptions extends Omit<StartRedisOptions, 'cluster' | 'label'> {
  /** Number of primaries (at least 3 for `redis-cli --cluster create`). Default 3. */
  masters?: number;
  /** Replicas per primary: 0 or 1 (or more). Default 0. */
  replicasPerMaster?: number;
  /** How long to wait for `cluster_state:ok` everywhere. Default 30 s. */
  readyTimeoutMs?: number;
}

export interface ClusterNodeInfo {
  id: string;
  server: RedisServer;
  role: 'master' | 'replica';
  /** For replicas: the id of their primary. */
  masterId?: string;
  slots: Array<[number, number]>;
}

/** A Redis Cluster of real nodes, created with `redis-cli --cluster create`. */
export class RedisCluster {
  private readonly clients = new ClientRegistry<Cluster>();
  private stopped = false;

  constructor(
    readonly nodes: RedisServer[],
    /** Replicas per primary asked for at creation, so health can check every replica is attached. */
    readonly replicasPerMaster = 0,
  ) {}

  static async start(options: StartClusterOptions = {}): Promise<RedisCluster> {
    const masters = options.masters ?? 3;
    const replicas = options.replicasPerMaster ?? 0;
    if (masters < 3) {
      throw new TestkitError(
        'TESTKIT_INVALID_ARGUMENT',
        `redis-cli --cluster create needs at least 3 masters, got ${masters}`,
      );
    }
    const total = masters * (1 + replicas);
    const { masters: _m, replicasPerMaster: _r, readyTimeoutMs, ...redisOptions } = options;
    const started = await Promise.allSettled(
      Array.from({ length: total }, (_, i) =>
        RedisServer.start({ ...redisOptions, cluster: true, label: `cluster${i}` }),
      ),
    );
    const nodes = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const cluster = new RedisCluster(nodes, replicas);
    try {
      const failed = started.find((r) => r.status === 'rejected');
      if (failed) throw (failed as PromiseRejectedResult).reason;
      const first = nodes[0];
      if (!first) throw new TestkitError('TESTKIT_START_FAILED', 'no cluster node started');
      const args = [
        '--cluster',
        'create',
        ...nodes.map((n) => `${n.host}:${n.port}`),
        '--cluster-replicas',
        String(replicas),
        '--cluster-yes',
      ];
      if (options.password) args.unshift('-a', options.password, '--no-auth-warning');
      try {
        await execFileAsync(first.build.cli, args, { timeout: 60_000 });
      } catch (err) {
        const e = err as { stdout?: string; stderr?: string; message: string };
        throw new TestkitError(
          'TESTKIT_START_FAILED',
          `redis-cli --cluster create failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`,
        );
      }
      await cluster.waitHealthy(readyTimeoutMs ?? 30_000);
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  /** Seeds for a cluster client: every node's endpoint. */
  get seeds(): Endpoint[] {
    return this.nodes.map((n) => n.endpoint);
  }

  /**
   * Waits until every node sees `cluster_state:ok`, all 16384 slots, every node, the expected number of
   * replicas attached, and every replica synced.
   */
  async waitHealthy(timeoutMs = 30_000): Promise<void> {
    const total = this.nodes.length;
    const expectedReplicas = total - total / (1 + this.replicasPerMaster);
    await waitFor(
      async () => {
        for (const node of this.nodes) {
          const ok = await withClient(node.endpoint, async (c) => {
            const text = String(await c.call('CLUSTER', 'INFO'));
            const fields = Object.fromEntries(
              text
                .split('\r\n')
                .filter(Boolean)
                .map((l) => l.split(':') as [string, string]),
            );
            if (fields.cluster_state !== 'ok' || fields.cluster_slots_ok !== '16384') return false;
            if (Number(fields.cluster_known_nodes) !== total) return false;
            const nodesText = String(await c.call('CLUSTER', 'NODES'));
            const replicasSeen = nodesText.split('\n').filter((l) => / (myself,)?slave /.test(l)).length;
            if (replicasSeen !== expectedReplicas) return false;
            const repl = String(await c.info('replication'));
            if (repl.includes('role:slave')) {
              return repl.includes('master_link_status:up') && repl.includes('master_sync_in_progress:0');
            }
            return true;
          });
          if (!ok) return false;
        }
        return true;
      },
      {
        what: `cluster of ${total} nodes to reach cluster_state:ok with synced replicas`,
        timeoutMs,
        intervalMs: 200,
      },
    );
  }

  /** The current roles and slot ranges, as any node sees them (`CLUSTER NODES`). */
  async topology(): Promise<ClusterNodeInfo[]> {
    const first = this.nodes.find((n) => n.running());
    if (!first) throw new TestkitError('TESTKIT_INVALID_ARGUMENT', 'no cluster node is running');
    const text = String(await first.command('CLUSTER', 'NODES'));
    const out: ClusterNodeInfo[] = [];
    for (const line of text.trim().split('\n')) {
      const [id, addr, flags, masterId, , , , , ...slotSpecs] = line.split(' ');
      if (!id || !addr || !flags) continue;
      const port = Number(addr.split('@')[0]?.split(':')[1]);
      const server = this.nodes.find((n) => n.port === port);
      if (!server) continue;
      const role = flags.includes('master') ? 'master' : 'replica';
      const slots: Array<[number, number]> = [];
      for (const spec of slotSpecs) {
        if (spec.startsWith('[')) continue; // migrating/importing marker
        const [a, b] = spec.split('-').map(Number);
        if (a !== undefined && !Number.isNaN(a)) slots.push([a, b ?? a]);
      }
      out.push({
        id,
        server,
        role,
        ...(role === 'replica' && masterId !== '-' ? { masterId: masterId ?? '' } : {}),
        slots,
      });
    }
    return out;
  }

  async masters(): Promise<RedisServer[]> {
    return (await this.topology()).filter((n) => n.role === 'master').map((n) => n.server);
  }

  async replicas(): Promise<RedisServer[]> {
    return (await this.topology()).filter((n) => n.role === 'replica').map((n) => n.server);
  }

  /** A new ioredis Cluster client (closed by `stop`). */
  client(options: ClusterOptions = {}): Cluster {
    const password = this.nodes[0]?.password;
    const client = new Cluster(
      this.seeds.map((s) => ({ host: s.host, port: s.port })),
      {
        ...options,
        redisOptions: { ...(password ? { password } : {}), ...options.redisOptions },
      },
    );
    return this.clients.track(client);
  }

  pids(): number[] {
    return this.nodes.filter((n) => n.running()).map((n) => n.pid);
  }

  /** Stops every node (in parallel). Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.clients.closeAll();
    await Promise.all(this.nodes.map((n) => n.stop()));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

/** Starts a cluster of `masters` primaries with `replicasPerMaster` replicas each. */
export function startCluster(options: StartClusterOptions = {}): Promise<RedisCluster> {
  return RedisCluster.start(options);
}
