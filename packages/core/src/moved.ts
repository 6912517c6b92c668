/**
 * Keys a source cluster moved between its shards while the task streams. `MIGRATE` on the source
 * shows up as `RESTORE-ASKING k` in the importing shard's stream and `DEL k` in the exporting one's;
 * the two streams are applied independently, and on the target, where both shards write one
 * keyspace, `DEL` applied after the `RESTORE` would lose the key. So a shard's `RESTORE-ASKING`
 * registers the key, and a `DEL`/`UNLINK` of it from another shard is dropped once (it is the
 * migration's, not a user's: a user's delete of a moved key runs on the shard that holds it now).
 * A `DEL` applied before the `RESTORE-ASKING` was read is harmless (the restore comes after it).
 *
 * Bounded: the oldest entries go first past `limit` (a reshard of more keys than that within one
 * apply lag is reported, see `overflowed`).
 */
export class MovedKeys {
  private readonly byKey = new Map<string, string>();
  /** Entries dropped for room before their DEL came. */
  overflowed = 0;
  /** Slots reported moving between source shards during the task (their owner is not certain). */
  readonly unsettledSlots = new Set<number>();
  /**
   * Keys a shard's source held outside that shard's slots (a Codis group's keys codis-proxy does not
   * read, say), seen in a snapshot: once there is one, a target key in some shard's slots may have
   * come from another shard, and no re-snapshot removes keys by slot.
   */
  strays = 0;

  constructor(
    private readonly limit = 200_000,
    /** Called at each stray key (a snapshot thread tells the task's thread). */
    private readonly onStray?: () => void,
  ) {}

  /** A shard's snapshot holds a key outside its slots: noted before the key is written. */
  stray(): void {
    this.strays++;
    this.onStray?.();
  }

  private id(db: number, key: Buffer): string {
    return `${db}\u0000${key.toString('latin1')}`;
  }

  /** `shardId`'s stream restored `key` as part of a slot migration. */
  restored(db: number, key: Buffer, shardId: string): void {
    const id = this.id(db, key);
    this.byKey.delete(id);
    this.byKey.set(id, shardId);
    if (this.byKey.size > this.limit) {
      const oldest = this.byKey.keys().next().value as string;
      this.byKey.delete(oldest);
      this.overflowed++;
    }
  }

  /** True when `shardId`'s DEL of `key` is the other half of a migration already seen (and is to be dropped). */
  migratedAway(db: number, key: Buffer, shardId: string): boolean {
    if (this.byKey.size === 0) return false;
    const id = this.id(db, key);
    const by = this.byKey.get(id);
    if (by === undefined || by === shardId) return false;
    this.byKey.delete(id);
    return true;
  }
}
