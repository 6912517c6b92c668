import type { Endpoint } from '@ferry/core';
import { FerryError } from '@ferry/errors';
import type { RespValue } from '@ferry/resp';

/** One node as the cluster describes it. */
export interface ClusterNode {
  id: string;
  host: string;
  port: number;
  role: 'master' | 'replica';
  masterId: string | undefined;
  /** Not failed, not in handshake, has an address, link connected, not loading. */
  healthy: boolean;
  /** Marked failed (or without an address): never a candidate to read from. */
  failed: boolean;
  slots: Array<[number, number]>;
}

/** A slot leaving one master for another (`[slot->-id]` in CLUSTER NODES). */
export interface SlotMove {
  slot: number;
  from: string;
  to: string;
}

export interface ClusterView {
  nodes: ClusterNode[];
  /** Known only from CLUSTER NODES (CLUSTER SHARDS does not show migrations). */
  moving: SlotMove[];
}

export const SLOT_COUNT = 16384;

function text(v: RespValue): string {
  return Buffer.isBuffer(v) ? v.toString('utf8') : String(v);
}

/**
 * `CLUSTER NODES` (3.0 → 8.x): `<id> <ip:port@cport[,hostname]> <flags> <master> <ping> <pong>
 * <epoch> <link> <slot>…`, slots as `n`, `a-b`, `[n->-id]` (migrating) or `[n-<-id]` (importing).
 * A node without a known address (`:0`, the seed itself on old versions) gets the seed's host.
 */
export function parseClusterNodes(reply: string, seedHost: string): ClusterView {
  const nodes: ClusterNode[] = [];
  const moving: SlotMove[] = [];
  for (const line of reply.split('\n')) {
    const f = line.trim().split(' ');
    if (f.length < 8) continue;
    const [id, addr, flagText, master, , , , link] = f as [string, string, string, string, ...string[]];
    const flags = new Set(flagText.split(','));
    const hostPort = (addr.split('@')[0] ?? '').split(',')[0] ?? '';
    const colon = hostPort.lastIndexOf(':');
    if (colon < 0) throw new FerryError('PROTOCOL_ERROR', `CLUSTER NODES: unreadable address "${addr}"`);
    const host = hostPort.slice(0, colon).replace(/^\[(.*)\]$/, '$1') || seedHost;
    const port = Number(hostPort.slice(colon + 1));
    const slots: Array<[number, number]> = [];
    for (const s of f.slice(8)) {
      const mig = /^\[(\d+)->-([0-9a-f]+)\]$/.exec(s);
      if (mig) {
        moving.push({ slot: Number(mig[1]), from: id, to: mig[2] as string });
        continue;
      }
      if (s.startsWith('[')) continue; // importing: the other side's `->-` says the same
      const [a, b] = s.split('-');
      slots.push([Number(a), Number(b ?? a)]);
    }
    const role = flags.has('master') ? 'master' : 'replica';
    nodes.push({
      id,
      host,
      port,
      role,
      masterId: role === 'replica' && master !== '-' ? master : undefined,
      healthy:
        port > 0 &&
        link === 'connected' &&
        !flags.has('fail') &&
        !flags.has('fail?') &&
        !flags.has('handshake') &&
        !flags.has('noaddr'),
      failed: port === 0 || flags.has('fail') || flags.has('noaddr') || flags.has('handshake'),
      slots,
    });
  }
  return { nodes, moving };
}

function fields(v: RespValue): Map<string, RespValue> {
  const m = new Map<string, RespValue>();
  if (v instanceof Map) {
    for (const [k, x] of v) m.set(text(k as RespValue), x as RespValue);
    return m;
  }
  const a = v as RespValue[];
  for (let i = 0; i + 1 < a.length; i += 2) m.set(text(a[i] as RespValue), a[i + 1] as RespValue);
  return m;
}

/** `CLUSTER SHARDS` (7.0+): per shard its slot ranges and nodes with role and health. */
export function parseClusterShards(reply: RespValue, seedHost: string): ClusterView {
  const nodes: ClusterNode[] = [];
  for (const shard of reply as RespValue[]) {
    const f = fields(shard);
    const flat = ((f.get('slots') as RespValue[] | undefined) ?? []).map(Number);
    const slots: Array<[number, number]> = [];
    for (let i = 0; i + 1 < flat.length; i += 2) slots.push([flat[i] as number, flat[i + 1] as number]);
    const members = ((f.get('nodes') as RespValue[] | undefined) ?? []).map(fields);
    const master = members.find((n) => text(n.get('role') ?? '') === 'master');
    for (const n of members) {
      const role = text(n.get('role') ?? '') === 'master' ? 'master' : 'replica';
      const port = Number(n.get('port') ?? n.get('tls-port') ?? 0);
      const ip = text(n.get('ip') ?? n.get('endpoint') ?? '');
      nodes.push({
        id: text(n.get('id') ?? ''),
        host: ip && ip !== '?' ? ip : seedHost,
        port,
        role,
        masterId: role === 'replica' && master ? text(master.get('id') ?? '') : undefined,
        healthy: port > 0 && text(n.get('health') ?? 'online') === 'online',
        // "loading" is also what a seed says while its gossip has not seen the replica's offset yet
        failed: port === 0 || text(n.get('health') ?? 'online') === 'fail',
        slots: role === 'master' ? slots : [],
      });
    }
  }
  return { nodes, moving: [] };
}

/** A primary with slots and its replicas. */
export interface ClusterShard {
  master: ClusterNode;
  replicas: ClusterNode[];
}

/** The shards (masters serving slots), or an error naming the slots no healthy master serves. */
export function shardsOf(view: ClusterView): ClusterShard[] {
  const owner = new Array<ClusterNode | undefined>(SLOT_COUNT).fill(undefined);
  const shards: ClusterShard[] = [];
  for (const m of view.nodes) {
    if (m.role !== 'master' || m.slots.length === 0) continue;
    for (const [a, b] of m.slots) for (let s = a; s <= b; s++) owner[s] = m;
    shards.push({
      master: m,
      replicas: view.nodes.filter((r) => r.role === 'replica' && r.masterId === m.id),
    });
  }
  const uncovered: Array<[number, number]> = [];
  const failed = new Set<string>();
  for (let s = 0; s < SLOT_COUNT; s++) {
    const o = owner[s];
    if (o?.healthy) continue;
    if (o) failed.add(`${o.host}:${o.port}`);
    const last = uncovered[uncovered.length - 1];
    if (last && last[1] === s - 1) last[1] = s;
    else uncovered.push([s, s]);
  }
  if (uncovered.length > 0) {
    const ranges = uncovered.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`));
    const count = uncovered.reduce((n, [a, b]) => n + b - a + 1, 0);
    throw new FerryError(
      'SOURCE_NOT_READY',
      `the source cluster does not serve all ${SLOT_COUNT} slots: ${count} slot(s) (${ranges.slice(0, 8).join(', ')}${ranges.length > 8 ? ', …' : ''}) ${failed.size > 0 ? `are on failed master(s) ${[...failed].join(', ')}` : 'have no master'}. Fix the cluster first (redis-cli --cluster check / fix)`,
      { details: { uncovered: count } },
    );
  }
  return shards;
}

/** Short node id, as shard names use it. */
export function shortId(id: string): string {
  return id.slice(0, 12);
}

/** A shard's stable name: the smallest id among its nodes (a failover changes roles, not members). */
export function shardName(s: ClusterShard): string {
  return shortId([s.master.id, ...s.replicas.map((r) => r.id)].sort()[0] as string);
}

export function nodeEndpoint(n: ClusterNode, creds: Omit<Endpoint, 'host' | 'port'>): Endpoint {
  return { ...creds, host: n.host, port: n.port };
}
