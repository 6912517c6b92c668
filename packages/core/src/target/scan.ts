import type { Arg } from '@ferry/resp';
import type { TargetWriter } from './writer.js';

/** The keys of `db` on the node serving `slot` (any, standalone), a SCAN page at a time. */
export async function* scanTarget(
  w: TargetWriter,
  db: number,
  slot: number | undefined,
  o: { match?: string; count?: number } = {},
): AsyncGenerator<Buffer[]> {
  let cursor = '0';
  do {
    const argv: Arg[] = ['SCAN', cursor];
    if (o.match !== undefined) argv.push('MATCH', o.match);
    argv.push('COUNT', o.count ?? 1000);
    const [next, keys] = (await w.send(db, slot, argv)) as [Buffer, Buffer[]];
    cursor = next.toString();
    yield keys;
  } while (cursor !== '0');
}
