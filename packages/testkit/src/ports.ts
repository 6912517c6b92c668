import { closeSync, openSync, readdirSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { TestkitError } from './errors.js';
import { testkitSubdir } from './internal/paths.js';
import { processStartTicks, sameProcess } from './internal/proc.js';

/**
 * Client ports come from 12000–22999 so a cluster bus port (+10000) stays below 32768, where the
 * kernel's ephemeral range starts. A lock file per port keeps parallel test files (separate
 * processes) from taking the same one; locks of dead owners are taken over.
 */
const LOW = 12_000;
const HIGH = 22_999;
const BUS_OFFSET = 10_000;

const held = new Set<number>();

function canBind(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen({ port, host, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

function lockPath(port: number): string {
  return join(testkitSubdir('ports'), String(port));
}

function lockOwnerAlive(path: string): boolean {
  try {
    const { owner, ownerStartTicks } = JSON.parse(readFileSync(path, 'utf8')) as {
      owner: number;
      ownerStartTicks: string | null;
    };
    return sameProcess(owner, ownerStartTicks);
  } catch {
    return true; // being written by its owner right now
  }
}

/** Removes the port locks of owners that have ended. */
export function reapStalePortLocks(): void {
  const dir = testkitSubdir('ports');
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (!lockOwnerAlive(path)) rmSync(path, { force: true });
  }
}

function tryLock(port: number): boolean {
  const path = lockPath(port);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, JSON.stringify({ owner: process.pid, ownerStartTicks: processStartTicks(process.pid) }));
      closeSync(fd);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      if (lockOwnerAlive(path)) return false;
      rmSync(path, { force: true }); // stale: its owner is gone
    }
  }
  return false;
}

export interface AllocatePortOptions {
  /** Also require port + 10000 (the Redis Cluster bus) to be free. */
  clusterBus?: boolean;
}

/** A free loopback port, locked for this process until `releasePort`. */
export async function allocatePort(options: AllocatePortOptions = {}): Promise<number> {
  for (let attempt = 0; attempt < 500; attempt++) {
    const port = LOW + Math.floor(Math.random() * (HIGH - LOW + 1));
    if (held.has(port) || !tryLock(port)) continue;
    const free = (await canBind(port)) && (!options.clusterBus || (await canBind(port + BUS_OFFSET)));
    if (free) {
      held.add(port);
      return port;
    }
    rmSync(lockPath(port), { force: true });
  }
  throw new TestkitError('TESTKIT_START_FAILED', `no free loopback port found in ${LOW}-${HIGH}`);
}

/** Frees every port this process holds; synchronous so it works in 'exit'. */
export function releaseAllPortsSync(): void {
  for (const port of [...held]) releasePort(port);
}

export function releasePort(port: number): void {
  if (!held.delete(port)) return;
  rmSync(lockPath(port), { force: true });
}
