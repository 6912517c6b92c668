import type { Arg, RespValue } from '@ferry/resp';
import type { TargetWriter } from './target/writer.js';

/**
 * Read commands on a standalone server (or through a proxy) in as few sends as there are runs of
 * one db: each run one unit on the connection, one promise, every reply checked (the first error
 * reply rejects, as a single read would). Not for a cluster: a run's keys would be on several nodes.
 */
export async function readInRuns(
  w: TargetWriter,
  items: ReadonlyArray<{ db: number; argv: readonly Arg[] }>,
): Promise<RespValue[]> {
  const runs: Array<Promise<RespValue[]>> = [];
  for (let i = 0; i < items.length; ) {
    const db = (items[i] as { db: number }).db;
    let j = i;
    while (j < items.length && (items[j] as { db: number }).db === db) j++;
    runs.push(
      w.sendGroup(
        db,
        undefined,
        items.slice(i, j).map((x) => x.argv),
        false,
        { idempotent: true },
      ),
    );
    i = j;
  }
  return (await Promise.all(runs)).flat();
}
