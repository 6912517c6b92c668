import { reapOrphans } from '../src/processes.js';

/** Before the run: kill servers that an earlier, SIGKILLed run left behind. */
export function setup(): void {
  const reaped = reapOrphans();
  if (reaped.length > 0)
    console.warn(`testkit: reaped ${reaped.length} orphaned server(s): ${reaped.join(', ')}`);
}
