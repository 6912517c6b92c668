/** Keys Ferry keeps on the servers: one prefix for all of them, so they are never taken for the user's. */
/** Keys Ferry keeps on the target while a task runs (removed when it completes). */
export const FERRY_KEY_PREFIX = '__ferry:';
const FERRY_PREFIX_BYTES = Buffer.from(FERRY_KEY_PREFIX);

/** A key of Ferry's own (checkpoints, heartbeats, temporary keys): never migrated nor compared. */
export function isFerryKey(k: Buffer): boolean {
  const n = FERRY_PREFIX_BYTES.length;
  return (
    k.length >= n &&
    k[0] === 0x5f && // "_": the common case decided without a compare
    k.compare(FERRY_PREFIX_BYTES, 0, n, 0, n) === 0
  );
}

/** The key the source heartbeat (`sourceHeartbeat`) writes on the source's primary. */
export function heartbeatKey(taskId: string): Buffer {
  return Buffer.from(`${FERRY_KEY_PREFIX}heartbeat:${taskId}`);
}
