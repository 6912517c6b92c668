import { Redis } from 'ioredis';
import { compareVersions } from '../binaries.js';
import { TestkitError } from '../errors.js';
import { clientOptions } from '../internal/client.js';
import { RedisCluster } from '../servers/cluster.js';
import { RedisServer } from '../servers/redis.js';
import { Twemproxy } from '../servers/twemproxy.js';
import type { Endpoint } from '../types.js';
import { keySlot } from './slot.js';

/** What the oracle can read: a harness handle, or a plain description of the nodes. */
export type DeploymentSpec =
  | { kind: 'standalone'; node: Endpoint }
  | { kind: 'cluster'; seeds: Endpoint[] }
  /** Independent primaries with client-side sharding (twemproxy backends, codis groups). */
  | { kind: 'sharded'; nodes: Endpoint[] };

export type DeploymentLike = RedisServer | RedisCluster | Twemproxy | DeploymentSpec;

export function toDeploymentSpec(d: DeploymentLike): DeploymentSpec {
  if (d instanceof RedisServer) return { kind: 'standalone', node: d.endpoint };
  if (d instanceof RedisCluster) return { kind: 'cluster', seeds: d.seeds };
  if (d instanceof Twemproxy) return { kind: 'sharded', nodes: d.backends };
  return d;
}

/** One primary node of a deployment, with a connection per database and its version. */
export class NodeHandle {
  private readonly conns = new Map<number, Redis>();
  version = '0.0.0';

  constructor(readonly endpoint: Endpoint) {}

  conn(db: number): Redis {
    let c = this.conns.get(db);
    if (!c) {
      c = new Redis(clientOptions(this.endpoint, { db, maxRetriesPerRequest: 2 }));
      c.on('error', () => {});
      this.conns.set(db, c);
    }
    return c;
  }

  atLeast(v: string): boolean {
    return compareVersions(this.version, v) >= 0;
  }

  async init(): Promise<void> {
    const text = await this.conn(0).info('server');
    this.version = /redis_version:(\S+)/.exec(text)?.[1] ?? '0.0.0';
  }

  close(): void {
    for (const c of this.conns.values()) c.disconnect();
    this.conns.clear();
  }

  get name(): string {
    return `${this.endpoint.host}:${this.endpoint.port}`;
  }
}

/** Reads a deployment key by key: where each key lives, and every key by SCAN on every primary. */
export class DeploymentReader {
  private nodes: NodeHandle[] = [];
  private slots: Array<NodeHandle | undefined> = [];

  constructor(readonly spec: DeploymentSpec) {}

  get isCluster(): boolean {
    return this.spec.kind === 'cluster';
  }

  async open(): Promise<void> {
    if (this.spec.kind === 'standalone') this.nodes = [new NodeHandle(this.spec.node)];
    else if (this.spec.kind === 'sharded') this.nodes = this.spec.nodes.map((n) => new NodeHandle(n));
    else await this.discoverCluster(this.spec.seeds);
    await Promise.all(this.nodes.map((n) => n.init()));
  }

  private async discoverCluster(seeds: Endpoint[]): Promise<void> {
    const seed = seeds[0];
    if (!seed)
      throw new TestkitError('TESTKIT_INVALID_ARGUMENT', 'a cluster deployment needs at least one seed');
    const probe = new NodeHandle(seed);
    try {
      const ranges = (await probe.conn(0).call('CLUSTER', 'SLOTS')) as Array<
        [number, number, [string, number], ...unknown[]]
      >;
      const byAddr = new Map<string, NodeHandle>();
      this.slots = new Array(16384);
      for (const [start, end, [host, port]] of ranges) {
        const addr = `${host}:${port}`;
        let node = byAddr.get(addr);
        if (!node) {
          node = new NodeHandle({ ...seed, host, port: Number(port) });
          byAddr.set(addr, node);
        }
        for (let s = start; s <= end; s++) this.slots[s] = node;
      }
      this.nodes = [...byAddr.values()];
    } finally {
      probe.close();
    }
  }

  /** Every key of `db`, in SCAN batches, from every primary. */
  async *scan(db: number, count = 1000): AsyncGenerator<Buffer[]> {
    if (this.isCluster && db !== 0) return;
    for (const node of this.nodes) {
      const conn = node.conn(db);
      let cursor = '0';
      do {
        const [next, keys] = await conn.scanBuffer(cursor, 'COUNT', count);
        cursor = String(next);
        if (keys.length > 0) yield keys;
      } while (cursor !== '0');
    }
  }

  /** The node holding each key (cluster: by slot; sharded: whichever primary has it, else the first). */
  async locate(db: number, keys: Buffer[]): Promise<NodeHandle[]> {
    const first = this.nodes[0];
    if (!first) throw new TestkitError('TESTKIT_INVALID_ARGUMENT', 'deployment has no nodes');
    if (this.spec.kind === 'standalone') return keys.map(() => first);
    if (this.spec.kind === 'cluster') {
      return keys.map((k) => {
        const node = this.slots[keySlot(k)];
        if (!node)
          throw new TestkitError('TESTKIT_INVALID_ARGUMENT', `slot ${keySlot(k)} is not served by any node`);
        return node;
      });
    }
    const found = keys.map(() => first);
    const hits = await Promise.all(
      this.nodes.map(async (node) => {
        const p = node.conn(db).pipeline();
        for (const k of keys) p.exists(k);
        return (await p.exec()) ?? [];
      }),
    );
    for (let i = 0; i < keys.length; i++) {
      const at = hits.findIndex((h) => h[i]?.[1] === 1);
      const node = this.nodes[at];
      if (node) found[i] = node;
    }
    return found;
  }

  close(): void {
    for (const n of this.nodes) n.close();
  }
}
