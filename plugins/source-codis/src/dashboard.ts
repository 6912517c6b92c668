import { CODIS_SLOTS } from '@ferry/core';
import { FerryError } from '@ferry/errors';

/** A group as codis-dashboard 3.2 describes it: its servers, the first one being the master. */
export interface CodisGroup {
  id: number;
  servers: string[];
  /** A promotion (failover) in progress. */
  promoting: string | undefined;
}

export interface CodisSlotAction {
  slot: number;
  from: number;
  to: number;
  state: string;
}

export interface CodisTopology {
  version: string;
  product: string | undefined;
  groups: CodisGroup[];
  /** Slot → group id (0: not assigned). */
  slotGroups: number[];
  /** Slots with a migration action (pending, preparing, prepared, migrating, finished, syncing). */
  moving: CodisSlotAction[];
}

function bad(url: string, why: string): FerryError {
  return new FerryError('PROTOCOL_ERROR', `codis-dashboard ${url}: ${why}`);
}

function obj(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
    ? (v as Record<string, unknown>)
    : undefined;
}

/**
 * The body of `GET /topom` (pkg/topom/topom_api.go `Overview`): `stats.group.models` (groups, each
 * `servers: [{ server, datacenter, action, replica_group }]`, master first) and `stats.slots`
 * (`[{ id, group_id, action: { index, state, target_id } }]`).
 */
export function parseTopom(body: unknown, url: string): CodisTopology {
  const o = obj(body);
  const stats = obj(o?.stats);
  if (!o || !stats) throw bad(url, 'the answer has no "stats": is this a codis-dashboard (3.x) address?');
  if (stats.closed === true) throw bad(url, 'the dashboard reports itself closed');
  const models = obj(stats.group)?.models;
  if (!Array.isArray(models)) throw bad(url, 'no stats.group.models in the answer');
  const groups: CodisGroup[] = models.map((m, i) => {
    const g = obj(m);
    const id = g?.id;
    if (!g || typeof id !== 'number') throw bad(url, `group ${i + 1} has no id`);
    const servers = Array.isArray(g.servers) ? g.servers : [];
    return {
      id,
      servers: servers.map((s, j) => {
        const addr = obj(s)?.server;
        if (typeof addr !== 'string') throw bad(url, `group ${id} server ${j + 1} has no address`);
        return addr;
      }),
      promoting: (obj(g.promoting)?.state as string | undefined) || undefined,
    };
  });
  const slotList = stats.slots;
  if (!Array.isArray(slotList)) throw bad(url, 'no stats.slots in the answer');
  const slotGroups = new Array<number>(CODIS_SLOTS).fill(0);
  const moving: CodisSlotAction[] = [];
  for (const s of slotList) {
    const m = obj(s);
    const id = m?.id;
    if (!m || typeof id !== 'number' || id < 0 || id >= CODIS_SLOTS)
      throw bad(url, `a slot entry is malformed: ${JSON.stringify(s)}`);
    const group = typeof m.group_id === 'number' ? m.group_id : 0;
    slotGroups[id] = group;
    const action = obj(m.action);
    const state = action?.state;
    if (typeof state === 'string' && state !== '')
      moving.push({ slot: id, from: group, to: Number(action?.target_id ?? 0), state });
  }
  return {
    version: typeof o.version === 'string' ? o.version : 'unknown',
    product:
      (obj(o.config)?.product_name as string | undefined) ??
      (obj(o.model)?.product_name as string | undefined),
    groups,
    slotGroups,
    moving,
  };
}

/** Reads the dashboard (`GET <dashboard>/topom`), with a timeout and errors that name it. */
export async function fetchTopom(dashboard: string, signal: AbortSignal): Promise<CodisTopology> {
  const url = `${dashboard.replace(/\/+$/, '')}/topom`;
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.any([signal, AbortSignal.timeout(10_000)]) });
  } catch (err) {
    if (signal.aborted) throw err;
    throw new FerryError(
      'CONNECTION_FAILED',
      `codis-dashboard ${url} did not answer: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  if (!res.ok) throw bad(url, `HTTP ${res.status} ${res.statusText}`);
  let body: unknown;
  try {
    body = await res.json();
  } catch (err) {
    throw bad(url, `the answer is not JSON: ${(err as Error).message}`);
  }
  return parseTopom(body, url);
}

/** "slots 3-5, 9 → group 2 (migrating)" for messages. */
export function describeMoves(moves: CodisSlotAction[]): string {
  const byTarget = new Map<string, number[]>();
  for (const m of moves) {
    const k = `group ${m.from} → group ${m.to} (${m.state})`;
    byTarget.set(k, [...(byTarget.get(k) ?? []), m.slot]);
  }
  return [...byTarget]
    .map(([k, slots]) => `slot${slots.length > 1 ? 's' : ''} ${ranges(slots)} ${k}`)
    .join('; ');
}

function ranges(slots: number[]): string {
  const out: string[] = [];
  const s = [...slots].sort((a, b) => a - b);
  for (let i = 0; i < s.length; i++) {
    let j = i;
    while (j + 1 < s.length && (s[j + 1] as number) === (s[j] as number) + 1) j++;
    out.push(i === j ? `${s[i]}` : `${s[i]}-${s[j]}`);
    i = j;
  }
  return out.length > 8 ? `${out.slice(0, 8).join(', ')}, …` : out.join(', ');
}
