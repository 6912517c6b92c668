import type { Arg } from '@ferry/resp';
import type { OwnKeys } from './ferry-keys.js';
import { keySlot, slotTag } from './slot.js';
import { scanTarget } from './target/scan.js';
import type { TargetWriter } from './target/writer.js';

/**
 * A shard's checkpoints on the target: per domain (a slot of a cluster target, else one), the
 * position last applied there, written in the same MULTI/EXEC as a command that is not replay-safe.
 * After a crash the target itself says which of those commands it applied, so none is applied twice.
 * (The task's store keeps the shard's checkpoint of record; see checkpoint.ts.)
 */
export class TargetCheckpoints {
  /** Positions already applied per domain, as the target said when the pass resumed. */
  private readonly done = new Map<number, number>();

  constructor(
    private readonly writer: TargetWriter,
    private readonly own: OwnKeys,
    private readonly taskId: string,
    private readonly shardId: string,
  ) {}

  /** Whether the target's checkpoint of `domain` says `offset` is applied already. */
  applied(domain: number, offset: number): boolean {
    const done = this.done.get(domain);
    return done !== undefined && offset <= done;
  }

  /** The command that records `offset` of history `replid` as applied in `domain`. */
  command(domain: number, replid: string, offset: number): Arg[] {
    return ['SET', this.key(domain), `${replid} ${offset}`];
  }

  /**
   * Reads what the target says was applied per domain (after a restart): those commands are not
   * replayed. A checkpoint of history `replid` counts, or of `resumedFrom` (after a failover the
   * primary continues the old history under a new replid, same offsets).
   */
  async load(replid: string, resumedFrom: string): Promise<void> {
    const w = this.writer;
    this.done.clear();
    for (const { slot: nodeSlot, keys } of await this.keys()) {
      for (const k of keys) {
        const slot = w.cluster ? keySlot(k) : 0;
        const v = (await w.send(0, w.cluster ? slot : nodeSlot, ['GET', k])) as Buffer | null;
        if (!v) continue;
        const [id, offset] = v.toString().split(' ');
        if (id === replid || (resumedFrom !== '' && id === resumedFrom)) this.done.set(slot, Number(offset));
      }
    }
  }

  /** Removes every checkpoint key of this shard from the target (a new snapshot, or the task's end). */
  async clear(): Promise<void> {
    const w = this.writer;
    for (const { keys } of await this.keys()) {
      for (const k of keys) await w.send(0, w.cluster ? keySlot(k) : undefined, ['DEL', k]);
    }
    this.done.clear();
  }

  /** Forgets what was loaded (a new pass starts clean). */
  reset(): void {
    this.done.clear();
  }

  private key(slot: number): Buffer {
    const tag = this.writer.cluster ? `{${slotTag(slot)}}` : '';
    return Buffer.from(`${this.own.prefix}ckpt:${tag}:${this.taskId}:${this.shardId}`);
  }

  /** Every checkpoint key of this shard on the target, per master. */
  private async keys(): Promise<Array<{ slot: number; keys: Buffer[] }>> {
    const w = this.writer;
    // one target node: one key, no SCAN (which proxies do not have)
    if (!w.cluster) return [{ slot: 0, keys: [this.key(0)] }];
    const pattern = `${this.own.prefix}ckpt:*:${this.taskId}:${this.shardId}`;
    const out: Array<{ slot: number; keys: Buffer[] }> = [];
    for (const slot of w.masterSlots()) {
      const keys: Buffer[] = [];
      for await (const page of scanTarget(w, 0, slot, { match: pattern })) keys.push(...page);
      out.push({ slot, keys });
    }
    return out;
  }
}
