import { FerryError, isFerryError } from '@ferry/errors';
import type { Arg, RespConnection } from '@ferry/resp';
import type { LeaseFence, LeaseNode, TaskLease } from './lease.js';
import { connectOwn } from './target/own-connection.js';
import type { TargetWriter } from './target/writer.js';

/** What the keeper of a task's lease tells the task. */
export interface LeaseHooks {
  /** Another process took the lease over: the task stops without writing more. */
  lost(err: FerryError): void;
  /** The lease's keys are gone from `node`: the target lost the task's data. */
  gone(node: string): Promise<void>;
  /** The lease was taken (again): connections opened from now on prove this fence. */
  fenced(fence: LeaseFence): void;
}

/**
 * A task's lease on the target while it runs (one writer per task, see lease.ts): taken before
 * anything is written, renewed, taken again after a flush of the target or a loss of its data, and
 * given back when the task ends.
 */
export class LeaseKeeper {
  /** Set when another process took the lease over: the task fails with it. */
  lostTo: FerryError | undefined;
  /** Flushes of the target's db 0 under way (the lease's keys go with them, and come back after). */
  flushing = 0;

  constructor(
    readonly lease: TaskLease,
    private readonly writer: TargetWriter,
    private readonly taskId: string,
    private readonly hooks: LeaseHooks,
  ) {}

  /** The target's masters as the lease talks to them. */
  nodes(slots?: number[]): LeaseNode[] {
    const w = this.writer;
    return (slots ?? w.masterSlots()).map((slot) => ({
      slot,
      name: w.nodeName(w.cluster ? slot : undefined),
      send: (argv) => {
        const at = w.cluster ? slot : undefined;
        if (!w.isImportSource) return w.send(0, at, argv, { idempotent: true });
        // the lease's keys expire as for any client: on a connection marked as the import source
        // (import-mode.ts) its scripts go between IMPORT-SOURCE OFF and ON, back to back
        const mark = (on: string): Arg[] => ['CLIENT', 'IMPORT-SOURCE', on];
        return w
          .sendGroup(0, at, [mark('OFF'), argv, mark('ON')], false, { idempotent: true })
          .then((r) => r[1]);
      },
    }));
  }

  /** Takes the lease (again) and gives the writers the new epochs. */
  async acquire(): Promise<void> {
    await this.lease.acquire(this.nodes());
    await this.writer.setFence(this.lease.fence);
    this.hooks.fenced(this.lease.fence);
  }

  /**
   * Renews the lease while the task runs (returns the stop). Lost to another owner: the task stops
   * (its writers' new connections are refused by the fence, the old ones were closed by the new
   * owner). Gone from the target: the target lost the task's data.
   */
  keep(): () => void {
    const { lease } = this;
    let busy = false;
    const timer = setInterval(
      () => {
        if (busy || this.flushing > 0) return;
        busy = true;
        const generation = lease.generation;
        void lease
          .renew(this.nodes(lease.slots))
          .then(async (r) => {
            // taken again since (after a loss): this renewal asked with the old epochs, so neither a
            // newer epoch nor missing keys say anything; keys flushed by the task itself: not a loss
            if (lease.generation !== generation) return;
            if (r.state === 'gone' && this.flushing > 0) return;
            if (r.state === 'lost') {
              this.lostTo = new FerryError(
                'LEASE_HELD',
                `task ${this.taskId}: another process took over its lease on the target ${r.node} (this one, ${lease.owner}, was paused or cut off past the lease's ${Math.round(lease.ttlMs / 1000)} s); stopping without writing more`,
              );
              this.hooks.lost(this.lostTo);
            } else if (r.state === 'gone') await this.noticeGone(r.node ?? '');
          })
          .catch((err: unknown) => {
            // a new connection's fence found another owner; otherwise the target is away (the
            // writers retry, the next renewal tells)
            if (isFerryError(err, 'LEASE_HELD')) {
              this.lostTo = err;
              this.hooks.lost(err);
            } else if (isFerryError(err, 'RESYNC_REQUIRED') && err.details?.targetLost)
              return this.noticeGone(String(err.details.node ?? ''));
            return undefined;
          })
          .finally(() => {
            busy = false;
          });
      },
      Math.max(250, Math.floor(lease.ttlMs / 6)),
    );
    timer.unref();
    return () => clearInterval(timer);
  }

  /**
   * The lease's keys are gone from `node` (a renewal or a writer's fence found so). Either the
   * target lost the task's data — then the task writes its snapshot again — or, if this process
   * could not prove the lease held for longer than it lives and the target did not restart, another
   * process took the task over and finished it (a completion removes the keys): then this one
   * stops without writing, as when the lease is lost to a running owner.
   */
  async noticeGone(node: string): Promise<void> {
    if (this.lostTo) return;
    const { lease } = this;
    const nodes = this.nodes(lease.slots);
    const at = nodes.filter((n) => n.name === node);
    for (const n of at.length > 0 ? at : nodes) {
      if (!(await lease.lapsedWithoutRestart(n))) continue;
      const silent = Math.round((Date.now() - lease.confirmedAt) / 1000);
      this.lostTo = new FerryError(
        'LEASE_HELD',
        `task ${this.taskId}: its lease's keys vanished from the target ${n.name} while this process (${lease.owner}) could not renew them for ${silent} s (paused or cut off, past the lease's ${Math.round(lease.ttlMs / 1000)} s), and the target did not restart: another process most likely took the task over and finished it. Stopping without writing more; if the task was not finished, run it again`,
        { details: { node: n.name } },
      );
      this.hooks.lost(this.lostTo);
      return;
    }
    await this.hooks.gone(node);
  }

  /** Gives the lease back with its epochs (the task succeeded: nothing of it stays on the target). */
  async finish(): Promise<void> {
    await this.lease.release(this.nodes(this.lease.slots), { epochs: true });
  }

  /**
   * Gives the lease back when the task ends without succeeding, over connections of its own: the
   * writer's may already be closed by the task's abort, and a lease left behind would keep the next
   * run out until it lapses. (The epoch stays: the next owner's is higher.)
   */
  async release(): Promise<void> {
    const w = this.writer;
    const conns: RespConnection[] = [];
    try {
      const nodes: LeaseNode[] = [];
      for (const slot of this.lease.slots) {
        const conn = await connectOwn(w, slot);
        conns.push(conn);
        nodes.push({ slot, name: w.nodeName(w.cluster ? slot : undefined), send: (argv) => conn.send(argv) });
      }
      await this.lease.release(nodes);
    } catch {
      // the target is away: the lease lapses by itself
    } finally {
      for (const c of conns) c.destroy();
    }
  }
}
