/** Without a heartbeat, a shard's lag in ms: its byte lag over the recent apply rate (0 when caught up). */
export class ApplyRate {
  private samples: Array<{ at: number; applied: number }> = [];

  /** Records the offset applied now; the lag of `lagBytes` at the rate of the last ten records. */
  lagMs(applied: number, lagBytes: number): number | undefined {
    const now = Date.now();
    this.samples.push({ at: now, applied });
    while (this.samples.length > 10) this.samples.shift();
    if (lagBytes === 0) return 0;
    const first = this.samples[0];
    if (!first || now - first.at < 500) return undefined;
    const rate = (applied - first.applied) / ((now - first.at) / 1000);
    return rate > 0 ? Math.round((lagBytes / rate) * 1000) : undefined;
  }
}
