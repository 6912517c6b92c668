import { hostname } from 'node:os';
import { FerryError } from '@ferry/errors';
import type { RespConnection } from '@ferry/resp';
import { FERRY_KEY_PREFIX } from './ferry-keys.js';
import { slotTag } from './slot.js';

/**
 * One writer per task, enforced where the data is. On every target master the task holds a lease
 * key (`owner epoch since`, with an expiry it renews) beside an epoch key that only grows. A second
 * process finds the lease fresh and refuses to start; once it lapses, a new owner takes it with the
 * next epoch and closes the connections the old owner's writers had on the target (they are named
 * after the task), and every writer connection, as it opens, proves that its process still holds
 * the lease — so the late writes of a process that was paused past its lease cannot land. The epoch
 * key doubles as a sentinel: a target that lost it (restarted empty, flushed, failed over to an
 * empty replica) lost the task's data too — unless the process could not renew its lease for
 * longer than it lives and the target did not restart: a completion removes the keys, so then
 * another process most likely took the task over and finished it, and this one stops.
 */

/** `owner epoch since`: who holds the lease, under which epoch, since when (ms). */
export interface LeaseHolder {
  owner: string;
  epoch: number;
  since: number;
  /** How long it stays valid without a renewal, in ms. */
  ttlMs: number;
}

/** Keys of one task's lease on the master serving `slot` (`{tag}` keeps both in that slot). */
export function leaseKeys(
  taskId: string,
  slot: number,
  prefix = FERRY_KEY_PREFIX,
): { lease: string; epoch: string } {
  const tag = slotTag(slot);
  return {
    lease: `${prefix}lease:{${tag}}:${taskId}`,
    epoch: `${prefix}epoch:{${tag}}:${taskId}`,
  };
}

/** The client name the task's writer connections carry on the target. */
export function leaseClientName(taskId: string, owner: string): string {
  return `ferry:${taskId}:${owner}`;
}

/** Whether `owner` (`host:pid:random`) was a process of this machine that no longer runs. */
export function deadHere(owner: string): boolean {
  const [host, pid] = owner.split(':');
  if (host !== thisHost() || !/^\d+$/.test(pid ?? '')) return false;
  if (Number(pid) === process.pid) return false;
  try {
    process.kill(Number(pid), 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

function thisHost(): string {
  return hostname().replace(/[^A-Za-z0-9._-]/g, '_');
}

/** An owner id unique to this process and run: `host:pid:random`. */
export function newOwner(): string {
  return `${thisHost()}:${process.pid}:${Math.random().toString(36).slice(2, 8)}`;
}

// KEYS: lease, epoch. ARGV: owner, ttl ms, now ms, the highest epoch this owner saw (it only grows),
// an owner known to be dead whose lease may be taken at once ('' none).
// {1, epoch} taken; {0, value, pttl} held by another.
const ACQUIRE = `
local cur = redis.call('GET', KEYS[1])
if cur then
  local owner = string.match(cur, '^(%S+)')
  if owner ~= ARGV[1] and owner ~= ARGV[5] then return {0, cur, redis.call('PTTL', KEYS[1])} end
end
local e = redis.call('INCR', KEYS[2])
if e <= tonumber(ARGV[4]) then
  e = tonumber(ARGV[4]) + 1
  redis.call('SET', KEYS[2], e)
end
redis.call('SET', KEYS[1], ARGV[1] .. ' ' .. e .. ' ' .. ARGV[3], 'PX', tonumber(ARGV[2]))
return {1, tostring(e)}
`;

// KEYS: lease, epoch. ARGV: owner, epoch, ttl ms (0: check only), since ms.
// 1 held (and renewed), 0 another owner or epoch, -1 the epoch key is gone (the target lost it).
const RENEW = `
local e = redis.call('GET', KEYS[2])
if not e then return -1 end
local cur = redis.call('GET', KEYS[1])
if cur then
  local owner, epoch = string.match(cur, '^(%S+) (%d+)')
  if owner ~= ARGV[1] or epoch ~= ARGV[2] then return 0 end
elseif e ~= ARGV[2] then
  return 0
end
if ARGV[3] ~= '0' then
  redis.call('SET', KEYS[1], ARGV[1] .. ' ' .. ARGV[2] .. ' ' .. ARGV[4], 'PX', tonumber(ARGV[3]))
end
return 1
`;

/** What a writer needs to prove, on each connection it opens, that its process holds the lease (cloneable). */
export interface LeaseFence {
  taskId: string;
  /** The task's reserved prefix (the lease keys are under it). */
  prefix: string;
  owner: string;
  /** The epoch held on each master, by the slot the writer addresses it with. */
  epochs: Record<number, number>;
}

export type LeaseState = 'held' | 'lost' | 'gone';

/** Runs the fence check on a fresh connection to the master serving `slot` (see LeaseFence). */
export async function checkFence(
  conn: RespConnection,
  fence: LeaseFence,
  slot: number,
  node: string,
): Promise<void> {
  const epoch = fence.epochs[slot];
  if (epoch === undefined) return; // a master the lease was not taken on (the topology moved): the task's own check follows
  const k = leaseKeys(fence.taskId, slot, fence.prefix);
  await conn.send(['CLIENT', 'SETNAME', leaseClientName(fence.taskId, fence.owner)]);
  const r = Number(await conn.send(['EVAL', RENEW, 2, k.lease, k.epoch, fence.owner, epoch, 0, 0]));
  if (r === 1) return;
  if (r === -1)
    throw new FerryError(
      'RESYNC_REQUIRED',
      `the target ${node} lost task ${fence.taskId}'s keys (restarted without its data, flushed, or failed over to an empty replica): its snapshot is written again`,
      { details: { targetLost: true, node } },
    );
  throw new FerryError(
    'LEASE_HELD',
    `task ${fence.taskId}: another process took over its lease on ${node}; this one (${fence.owner}) stops without writing`,
    { details: { node } },
  );
}

/** The node a lease step talks to: a connection to one master and the slot that names it. */
export interface LeaseNode {
  slot: number;
  name: string;
  send(argv: Array<string | number | Buffer>): Promise<unknown>;
}

export class TaskLease {
  private epochs: Record<number, number> = {};
  private since = Date.now();
  /** Acquisitions so far: a renewal that began under an earlier one says nothing of the keys now. */
  generation = 0;
  /**
   * When the lease was last proved held (the time its acquisition or renewal was sent): past
   * `ttlMs` after it, another process may have taken the lease over, whatever this one believes.
   */
  confirmedAt = 0;
  /** The run_id of each master when the lease was taken on it (by slot): tells a restart apart. */
  private runIds: Record<number, string> = {};

  constructor(
    readonly taskId: string,
    readonly owner: string,
    readonly ttlMs = 15_000,
    readonly prefix = FERRY_KEY_PREFIX,
  ) {}

  get fence(): LeaseFence {
    return { taskId: this.taskId, prefix: this.prefix, owner: this.owner, epochs: { ...this.epochs } };
  }

  /** The slots the lease was taken under (one per master at the time): renewals ask by these. */
  get slots(): number[] {
    return Object.keys(this.epochs).map(Number);
  }

  /** Highest epoch held (for messages). */
  get epoch(): number {
    return Math.max(0, ...Object.values(this.epochs));
  }

  /**
   * Takes the lease on every master, or refuses (LEASE_HELD, naming the holder and since when) and
   * gives back what it took. Then closes the connections an earlier owner's writers still have.
   */
  async acquire(nodes: LeaseNode[]): Promise<void> {
    this.since = Date.now();
    this.generation++;
    // taken anew on these masters (a failover may have changed which slot names which master)
    const known = this.epochs;
    this.epochs = {};
    this.runIds = {};
    const taken: LeaseNode[] = [];
    for (const n of nodes) {
      const k = leaseKeys(this.taskId, n.slot, this.prefix);
      const take = (dead: string): Promise<[number, Buffer | string, number?]> =>
        n.send([
          'EVAL',
          ACQUIRE,
          2,
          k.lease,
          k.epoch,
          this.owner,
          this.ttlMs,
          this.since,
          Math.max(0, ...Object.values(known)),
          dead,
        ]) as Promise<[number, Buffer | string, number?]>;
      let r = await take('');
      // held by a process of this machine that is gone (killed, crashed): it cannot write any
      // more, so its lease is taken at once rather than after it lapses
      const holder = Number(r[0]) === 1 ? '' : (String(r[1]).split(' ')[0] ?? '');
      if (holder && deadHere(holder)) r = await take(holder);
      if (Number(r[0]) === 1) {
        this.epochs[n.slot] = Number(String(r[1]));
        this.runIds[n.slot] = await runId(n);
        taken.push(n);
        continue;
      }
      await this.release(taken).catch(() => undefined);
      const [owner = '?', epoch = '?', since = '0'] = String(r[1]).split(' ');
      const age = Math.max(0, Math.round((Date.now() - Number(since)) / 1000));
      const left = Math.max(0, Math.ceil(Number(r[2] ?? 0) / 1000));
      throw new FerryError(
        'LEASE_HELD',
        `task ${this.taskId} is already running in another process: ${owner} holds its lease on the target ${n.name} (epoch ${epoch}, for ${age} s, valid ${left} s more unless renewed). Stop that process first; if it is gone, this one can start once the lease lapses`,
        { details: { owner, epoch: Number(epoch), since: Number(since), node: n.name } },
      );
    }
    for (const n of nodes) await this.evict(n).catch(() => undefined);
    this.confirmedAt = this.since;
  }

  /**
   * Whether this process may have lost the lease without being told: it was not proved held for
   * longer than the lease lives (the process was paused, or cut off from the target), and the
   * master serving `slot` did not restart since the lease was taken (same run_id; unreadable
   * counts as the same). Then lease keys that vanished were most likely removed by another process
   * that took the task over and finished it — not lost with the target's data — and writing the
   * snapshot again would overwrite a target the task no longer owns.
   */
  async lapsedWithoutRestart(n: LeaseNode): Promise<boolean> {
    if (Date.now() - this.confirmedAt <= this.ttlMs) return false;
    const before = this.runIds[n.slot] ?? '';
    const now = await runId(n);
    return !before || !now || before === now;
  }

  /** Closes the target connections named after this task that belong to another owner. */
  private async evict(n: LeaseNode): Promise<void> {
    const list = String(await n.send(['CLIENT', 'LIST']));
    const mine = leaseClientName(this.taskId, this.owner);
    const prefix = leaseClientName(this.taskId, '');
    for (const line of list.split('\n')) {
      const name = / name=(\S*)/.exec(line)?.[1];
      const id = /^id=(\d+)/.exec(line)?.[1];
      if (id && name?.startsWith(prefix) && name !== mine) await n.send(['CLIENT', 'KILL', 'ID', id]);
    }
  }

  /** Renews the lease on every master: held, lost (another owner), or gone (the target lost the keys). */
  async renew(nodes: LeaseNode[]): Promise<{ state: LeaseState; node?: string }> {
    const sent = Date.now();
    for (const n of nodes) {
      const k = leaseKeys(this.taskId, n.slot, this.prefix);
      const epoch = this.epochs[n.slot];
      if (epoch === undefined) continue;
      const r = Number(
        await n.send(['EVAL', RENEW, 2, k.lease, k.epoch, this.owner, epoch, this.ttlMs, this.since]),
      );
      if (r === 0) return { state: 'lost', node: n.name };
      if (r === -1) return { state: 'gone', node: n.name };
    }
    this.confirmedAt = sent;
    return { state: 'held' };
  }

  /** Gives the lease back (stop, completion); with `epochs`, the epoch keys go too (the task is over). */
  async release(nodes: LeaseNode[], o: { epochs?: boolean } = {}): Promise<void> {
    for (const n of nodes) {
      const k = leaseKeys(this.taskId, n.slot, this.prefix);
      const epoch = this.epochs[n.slot];
      if (epoch === undefined) continue;
      // only a lease that is still ours
      if (Number(await n.send(['EVAL', RENEW, 2, k.lease, k.epoch, this.owner, epoch, 0, 0])) !== 1) continue;
      await n.send(o.epochs ? ['DEL', k.lease, k.epoch] : ['DEL', k.lease]);
    }
  }
}

/** The master's run_id ('' if it cannot be read): it changes when the server restarts. */
async function runId(n: LeaseNode): Promise<string> {
  try {
    return /run_id:(\w+)/.exec(String(await n.send(['INFO', 'server'])))?.[1] ?? '';
  } catch {
    return '';
  }
}
