import { statfs } from 'node:fs/promises';
import { dirname } from 'node:path';
import { formatBytes, readNode } from '@ferry/core';
import { defineCheck, result } from '../util.js';

/** The folder that exists nearest to `path` (the spool folder itself may not exist yet). */
async function free(path: string): Promise<{ at: string; bytes: number }> {
  let p = path;
  for (;;) {
    try {
      const s = await statfs(p);
      return { at: p, bytes: s.bavail * s.bsize };
    } catch (err) {
      const up = dirname(p);
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || up === p) throw err;
      p = up;
    }
  }
}

/** Free disk where Ferry spools the snapshots against their estimated size (the sources' dataset memory). */
export function checkSpoolDisk() {
  return defineCheck('spool-disk', 'Spool disk space', async (input) => {
    let estimate = 0;
    for (const shard of input.shards) {
      const mem = await input.probe.info(readNode(shard), 'memory');
      estimate += Number(mem.used_memory_dataset ?? mem.used_memory ?? 0);
    }
    const disk = await free(input.spoolDir);
    const details = {
      spoolDir: input.spoolDir,
      measuredAt: disk.at,
      freeBytes: disk.bytes,
      snapshotEstimate: estimate,
    };
    const what = `${formatBytes(disk.bytes)} free at ${disk.at} for snapshots estimated at ${formatBytes(estimate)} (the sources' dataset memory)`;
    if (disk.bytes < estimate)
      return [
        result('fail', `${what}: not enough`, {
          advice: `free space, or spool elsewhere (--state-dir on a disk with at least ${formatBytes(estimate * 2)})`,
          details,
        }),
      ];
    if (disk.bytes < estimate * 2)
      return [
        result(
          'warn',
          `${what}: less than twice the estimate, and the stream is spooled too while the snapshot loads`,
          {
            advice: `spool on a disk with at least ${formatBytes(estimate * 2)} free`,
            details,
          },
        ),
      ];
    return [result('pass', what, { details })];
  });
}
