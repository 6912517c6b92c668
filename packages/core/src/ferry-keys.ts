/**
 * Keys Ferry keeps on the servers (checkpoints, leases, temporary keys, the source heartbeat), all
 * under one reserved prefix: the task option `reservedPrefix`, `__ferry:` by default. A key under
 * it is never taken for the user's, and the user's keys are never taken for Ferry's: the precheck
 * fails when the source holds keys under it (choose another prefix then).
 */
export const FERRY_KEY_PREFIX = '__ferry:';

/** The reserved prefix of one task, and the names of the keys Ferry keeps under it. */
export class OwnKeys {
  readonly bytes: Buffer;
  private readonly first: number;

  constructor(readonly prefix: string = FERRY_KEY_PREFIX) {
    this.bytes = Buffer.from(prefix, 'utf8');
    this.first = this.bytes[0] ?? 0;
  }

  /** A key under the reserved prefix: never migrated nor compared. */
  is(k: Buffer): boolean {
    const n = this.bytes.length;
    return (
      k.length >= n &&
      k[0] === this.first && // the common case decided without a compare
      k.compare(this.bytes, 0, n, 0, n) === 0
    );
  }

  /** A heartbeat key (any task's): the one kind of Ferry's keys that lives on a source. */
  isHeartbeat(k: Buffer): boolean {
    if (!this.is(k)) return false;
    const hb = 'heartbeat:';
    return k.toString('latin1', this.bytes.length, this.bytes.length + hb.length) === hb;
  }

  /** `<prefix><rest>` as a key name. */
  name(rest: string): string {
    return `${this.prefix}${rest}`;
  }

  /** The key the source heartbeat (`sourceHeartbeat`) writes on the source's primary. */
  heartbeat(taskId: string): Buffer {
    return Buffer.from(this.name(`heartbeat:${taskId}`));
  }
}

const DEFAULT = new OwnKeys();

/** A key under the default reserved prefix. */
export function isFerryKey(k: Buffer): boolean {
  return DEFAULT.is(k);
}

/** The heartbeat key under the default reserved prefix. */
export function heartbeatKey(taskId: string): Buffer {
  return DEFAULT.heartbeat(taskId);
}
