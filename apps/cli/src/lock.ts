import { closeSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { FerryError } from '@ferry/errors';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Locks a task's local checkpoint file for this process (`<file>`: its pid). A second
 * `ferry migrate` of the same task with the same state folder is refused at once, naming the
 * process; a lock left by a process that is gone is taken over. The lease on the target covers
 * other folders and other machines. Returns the release function.
 */
export function lockCheckpoint(file: string, taskId: string): () => void {
  mkdirSync(dirname(file), { recursive: true });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx');
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return () => {
        try {
          if (readFileSync(file, 'utf8').trim() === String(process.pid)) rmSync(file);
        } catch {
          // already gone
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number(readFileSync(file, 'utf8').trim());
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
        const since = statSync(file).mtime.toISOString();
        throw new FerryError(
          'LEASE_HELD',
          `task ${taskId} is already running on this machine (process ${pid}, since ${since}; lock ${file}): stop it first (Ctrl-C keeps its checkpoint), then run this command again`,
          { details: { pid, file } },
        );
      }
      rmSync(file, { force: true }); // its process is gone
    }
  }
  throw new FerryError('LEASE_HELD', `could not lock ${file}: another process keeps taking it`);
}
