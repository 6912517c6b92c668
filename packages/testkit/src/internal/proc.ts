import { readFileSync } from 'node:fs';

/** Field 22 of /proc/<pid>/stat: the process start time in clock ticks; null where /proc is absent. */
export function processStartTicks(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const afterComm = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return afterComm[19] ?? null;
  } catch {
    return null;
  }
}

/** True if a process with this PID exists and is not a zombie. */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A zombie is dead for our purposes.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

export function sameProcess(pid: number, ticks: string | null): boolean {
  if (!isProcessAlive(pid)) return false;
  if (ticks === null) return true;
  return processStartTicks(pid) === ticks;
}
