import type { RespConnection } from '@ferry/resp';
import { connectEndpoint } from '../endpoint.js';
import type { TargetWriter } from './writer.js';

/**
 * A connection of its own to the target master serving `slot`, for what a task does as it ends
 * (giving its lease back, turning import mode off): the writer's may be closed already by a stop
 * or a failure. Bounded: 5 s to connect and per command, 10 s in all.
 */
export function connectOwn(w: TargetWriter, slot: number): Promise<RespConnection> {
  return connectEndpoint(w.nodeEndpoint(w.cluster ? slot : undefined), AbortSignal.timeout(10_000), {
    connectMs: 5_000,
    commandMs: 5_000,
  });
}
