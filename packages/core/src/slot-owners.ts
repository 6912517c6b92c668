import type { MovedKeys } from './moved.js';
import type { ShardSpec } from './plugins.js';
import type { ShardNotices } from './shard-notices.js';
import { CODIS_SLOTS, codisSlot, keySlot, SLOTS } from './slot.js';

interface Mask {
  mask: Uint8Array;
  slotOf: (key: Buffer) => number;
}

/**
 * Whether a key a shard's source holds is of that shard's slots. One outside them (a write straight
 * to a Codis server, say) is noted before it is written, so that no re-snapshot of the task takes it
 * for a stale key of the shard whose slot it is (see MovedKeys.strays).
 */
export class SlotOwners {
  /** The mask the check uses: only where several shards write one target (null: none). */
  private own: Mask | null | undefined;
  private strayed = false;

  constructor(
    private readonly shard: ShardSpec,
    private readonly shardCount: number,
    private readonly moved: MovedKeys,
    private readonly notices: ShardNotices,
    private readonly name: () => string,
  ) {}

  /** The shard's slots may have changed (a failover): the mask is made again when next needed. */
  reset(): void {
    this.own = undefined;
  }

  /** Whether `check` has anything to check (several shards, this one with slots). */
  get tracking(): boolean {
    if (this.own === undefined) this.own = (this.shardCount > 1 && this.mask()) || null;
    return this.own !== null;
  }

  /** A key of this shard's source about to be written (see the class). */
  check(key: Buffer): void {
    if (!this.tracking) return;
    const own = this.own as Mask;
    const home = own.slotOf(key);
    if (own.mask[home] || this.moved.unsettledSlots.has(home)) return;
    this.moved.stray();
    if (this.strayed) return;
    this.strayed = true;
    this.notices.warn(
      `${this.name()} holds keys outside the slots it was found with (${JSON.stringify(key.subarray(0, 60).toString('latin1'))} the first): a router of the source does not read them there; Ferry copies them, and no re-snapshot of this task removes keys by slot`,
      key.subarray(0, 200),
    );
  }

  /** This shard's slots as a new mask, with its scheme's slot function; undefined without slots. */
  mask(): Mask | undefined {
    const { slots, slotScheme } = this.shard;
    if (!slots) return undefined;
    const codis = slotScheme === 'codis';
    const mask = new Uint8Array(codis ? CODIS_SLOTS : SLOTS);
    for (const [a, b] of slots) mask.fill(1, a, b + 1);
    return { mask, slotOf: codis ? codisSlot : keySlot };
  }
}
