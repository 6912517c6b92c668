// The benches' shared data set: 1 M mixed keys (70% strings, 10% hashes, 10% lists, 5% sets,
// 5% zsets, 20% with TTLs; about 170 MB of RDB), generated once into $FERRY_BENCH_DIR.
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { populate, startRedis } from '../../packages/testkit/dist/index.js';

export const benchDir = process.env.FERRY_BENCH_DIR ?? join(tmpdir(), 'ferry-bench');

/** The path of the 1 M-key snapshot, made on first use. */
export async function mixed1m() {
  mkdirSync(benchDir, { recursive: true });
  const rdb = join(benchDir, 'mixed-1m.rdb');
  if (!existsSync(rdb)) {
    console.error(`generating mixed-1m (once; kept in ${benchDir})…`);
    const s = await startRedis({ label: 'bench-gen' });
    const c = s.client();
    await populate(c, { catalogue: false, randomKeys: 1_000_000, ttlFraction: 0.2 });
    await c.save();
    copyFileSync(s.rdbPath, rdb);
    await s.stop();
  }
  return rdb;
}
