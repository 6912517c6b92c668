// The benches' shared data set: 1 M mixed keys (70% strings, 10% hashes, 10% lists, 5% sets,
// 5% zsets, 20% with TTLs; about 170 MB of RDB), generated once into $FERRY_BENCH_DIR.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { populate, startRedis, waitFor } from '../../packages/testkit/dist/index.js';

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

/**
 * A source loaded from `rdb`. Replication settings are Redis 7's defaults (diskless sync) except the
 * 5 s diskless delay, 0 here for Ferry and native alike; `diskless: false` for disk-based sync,
 * `backlog` for a replication backlog size.
 */
export async function startSource(rdb, { diskless = true, backlog } = {}) {
  const d = mkdtempSync(join(tmpdir(), 'ferry-bench-src-'));
  copyFileSync(rdb, join(d, 'dump.rdb'));
  const s = await startRedis({
    label: 'bench-source',
    startTimeoutMs: 300_000,
    config: {
      dir: d,
      'repl-diskless-sync': diskless ? 'yes' : 'no',
      'repl-diskless-sync-delay': 0,
      ...(backlog ? { 'repl-backlog-size': backlog } : {}),
      'client-output-buffer-limit': 'replica 0 0 0',
    },
  });
  await waitFor(async () => (await s.info('persistence')).loading === '0', {
    what: 'the source to load its snapshot',
    timeoutMs: 300_000,
  });
  return { server: s, cleanup: () => rmSync(d, { recursive: true, force: true }) };
}

/** A server's CPU seconds so far: its own process, and its reaped children (the fork that makes an RDB). */
export async function serverCpu(s) {
  const c = await s.info('cpu');
  return {
    main: Number(c.used_cpu_user) + Number(c.used_cpu_sys),
    fork: Number(c.used_cpu_user_children) + Number(c.used_cpu_sys_children),
  };
}
