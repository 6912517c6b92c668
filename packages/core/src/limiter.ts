import { setTimeout as sleep } from 'node:timers/promises';
import type { RateLimit } from './options.js';

/** Token buckets for keys/s and bytes/s (one second of burst), changeable while running. */
export class RateLimiter {
  private keys = 0;
  private bytes = 0;
  private last = Date.now();

  constructor(private limit: RateLimit) {}

  set(limit: RateLimit): void {
    this.limit = { ...limit };
  }

  /** The limit now. */
  get current(): RateLimit {
    return { ...this.limit };
  }

  get active(): boolean {
    return Boolean(this.limit.keysPerSec || this.limit.bytesPerSec);
  }

  /** Waits until `keys` keys (or commands) and `bytes` bytes may be written. */
  async take(keys: number, bytes: number, signal?: AbortSignal): Promise<void> {
    for (;;) {
      const { keysPerSec = 0, bytesPerSec = 0 } = this.limit;
      if (!keysPerSec && !bytesPerSec) return;
      const now = Date.now();
      const dt = (now - this.last) / 1000;
      this.last = now;
      this.keys = keysPerSec ? Math.min(keysPerSec, this.keys + dt * keysPerSec) : 0;
      this.bytes = bytesPerSec ? Math.min(bytesPerSec, this.bytes + dt * bytesPerSec) : 0;
      // more than a second's allowance at once passes once the bucket is full (then owes the rest)
      const needKeys = keysPerSec ? Math.min(keys, keysPerSec) - this.keys : 0;
      const needBytes = bytesPerSec ? Math.min(bytes, bytesPerSec) - this.bytes : 0;
      if (needKeys <= 0 && needBytes <= 0) {
        if (keysPerSec) this.keys -= keys;
        if (bytesPerSec) this.bytes -= bytes;
        return;
      }
      const waitMs = Math.max(
        needKeys > 0 ? (needKeys / keysPerSec) * 1000 : 0,
        needBytes > 0 ? (needBytes / bytesPerSec) * 1000 : 0,
      );
      await sleep(Math.min(Math.max(waitMs, 1), 250), undefined, signal ? { signal } : {});
    }
  }
}
