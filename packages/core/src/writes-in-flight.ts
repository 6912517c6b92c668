/**
 * Writes sent and not yet settled, so that a next pass (or a thread's end) waits for them: nothing
 * of an earlier pass may land on the target after a later one began.
 */
export class WritesInFlight {
  private readonly work = new Set<Promise<unknown>>();

  /** Counts `p` until it settles; returns it. */
  add<T>(p: Promise<T>): Promise<T> {
    this.work.add(p);
    void p.finally(() => this.work.delete(p)).catch(() => undefined);
    return p;
  }

  /**
   * Lets the writes so far settle (bounded: a target that never answers fails the next pass's
   * writes the same way); nothing of them touches what comes after.
   */
  async settle(ms = 30_000): Promise<void> {
    const leftover = [...this.work];
    this.work.clear();
    if (leftover.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled(leftover),
      new Promise<void>((r) => {
        timer = setTimeout(r, ms);
        timer.unref();
      }),
    ]);
    clearTimeout(timer);
  }
}
