import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { testkitSubdir } from './internal/paths.js';
import { processStartTicks } from './internal/proc.js';

const OWNER_FILE = '.ferry-testkit-owner';
const owned = new Set<string>();

/**
 * A fresh folder for one server, owned by this process: removed by `removeDir`, at exit, or by the
 * reaper once the owner is gone. FERRY_TESTKIT_KEEP=1 keeps them for post-mortems.
 */
export function makeTempDir(label: string): string {
  const dir = mkdtempSync(join(testkitSubdir('srv'), `${label}-${process.pid}-`));
  writeFileSync(
    join(dir, OWNER_FILE),
    JSON.stringify({ owner: process.pid, ownerStartTicks: processStartTicks(process.pid) }),
  );
  owned.add(dir);
  return dir;
}

export function removeDir(dir: string): void {
  owned.delete(dir);
  if (!process.env.FERRY_TESTKIT_KEEP) rmSync(dir, { recursive: true, force: true });
}

export function removeOwnedDirsSync(): void {
  for (const dir of owned) removeDir(dir);
}

/** Removes server folders whose owner process has ended. */
export function reapOrphanDirs(isAlive: (pid: number, ticks: string | null) => boolean): void {
  if (process.env.FERRY_TESTKIT_KEEP) return;
  const root = testkitSubdir('srv');
  for (const name of readdirSync(root)) {
    const dir = join(root, name);
    try {
      const { owner, ownerStartTicks } = JSON.parse(readFileSync(join(dir, OWNER_FILE), 'utf8')) as {
        owner: number;
        ownerStartTicks: string | null;
      };
      if (!isAlive(owner, ownerStartTicks)) rmSync(dir, { recursive: true, force: true });
    } catch {
      // no owner file yet (being created) or not ours: leave it
    }
  }
}
