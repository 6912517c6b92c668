import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'vitest';
import { isProcessAlive } from '../src/index.js';

/** Asserts that none of these PIDs runs any more (allowing the kernel a moment to reap). */
export async function expectAllDead(pids: number[]): Promise<void> {
  expect(pids.length).toBeGreaterThan(0);
  for (let i = 0; i < 50 && pids.some(isProcessAlive); i++) await sleep(100);
  expect(pids.filter(isProcessAlive)).toEqual([]);
}
