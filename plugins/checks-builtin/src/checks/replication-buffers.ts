import { setTimeout as sleep } from 'node:timers/promises';
import { endpointName, formatBytes, readNodes } from '@ferry/core';
import { defineCheck, eachNode, parseMemory, type Result, result } from '../util.js';

/** Snapshot transfer speed assumed for the estimate (bytes/s): a conservative local network. */
const TRANSFER_BPS = 100 * (1 << 20);
/** Below this a replica buffer is small whatever the current write rate. */
const MIN_BUFFER = 16 * (1 << 20);
/** The backlog should hold this long an interruption of the link, at the current write rate. */
const BACKLOG_SECONDS = 60;

/** `client-output-buffer-limit` text → the replica class's hard limit, soft limit and soft seconds. */
export function replicaLimit(text: string): { hard: number; soft: number; seconds: number } | undefined {
  const words = text.trim().split(/\s+/);
  for (let i = 0; i + 3 < words.length; i += 4) {
    if (words[i] === 'slave' || words[i] === 'replica') {
      const hard = parseMemory(words[i + 1]);
      const soft = parseMemory(words[i + 2]);
      const seconds = Number(words[i + 3]);
      if (hard === undefined || soft === undefined || !Number.isFinite(seconds)) return undefined;
      return { hard, soft, seconds };
    }
  }
  return undefined;
}

/**
 * The source can buffer the writes made while its snapshot is produced and sent
 * (`client-output-buffer-limit replica`), and its backlog outlasts a short cut of the link
 * (`repl-backlog-size`), at the write rate measured now (master_repl_offset over one second).
 */
export function checkReplicationBuffers() {
  return defineCheck('replication-buffers', 'Replication buffers', async (input) =>
    eachNode(readNodes(input.shards), 'the replication buffers', async ({ shard, node }) => {
      const name = `source ${endpointName(node)}`;
      const s = { shardId: shard.id };
      // the write rate: the replication offset's growth, or, where it stands still because no
      // backlog exists yet (no replica ever attached), the bytes other clients send (reads
      // included, so it errs high)
      const sample = async (): Promise<{ offset: number; input: number; backlog: boolean }> => {
        const [r, st] = await Promise.all([
          input.probe.command(node, ['INFO', 'replication']),
          input.probe.command(node, ['INFO', 'stats']),
        ]);
        return {
          offset: Number(/master_repl_offset:(\d+)/.exec(String(r))?.[1] ?? 0),
          // what clients other than these checks sent
          input:
            Number(/total_net_input_bytes:(\d+)/.exec(String(st))?.[1] ?? 0) - input.probe.bytesSent(node),
          backlog: /repl_backlog_active:1/.test(String(r)),
        };
      };
      const t0 = performance.now();
      const a = await sample();
      await sleep(1000, undefined, { signal: input.probe.signal });
      const b = await sample();
      const elapsed = (performance.now() - t0) / 1000;
      const rate = Math.max(0, (a.backlog && b.backlog ? b.offset - a.offset : b.input - a.input) / elapsed);
      const mem = await input.probe.info(node, 'memory');
      const dataset = Number(mem.used_memory_dataset ?? mem.used_memory ?? 0);
      const seconds = Math.max(1, dataset / TRANSFER_BPS);
      const need = Math.max(MIN_BUFFER, Math.ceil(rate * seconds * 2));
      const out: Result[] = [];
      const cobl = await input.probe.config(node, 'client-output-buffer-limit');
      const limit = 'value' in cobl ? replicaLimit(cobl.value) : undefined;
      const details = {
        writeBytesPerSec: Math.round(rate),
        snapshotSecondsEstimate: Math.round(seconds),
        bufferNeeded: need,
      };
      if (!limit)
        out.push(
          result(
            'warn',
            `${name}: could not read client-output-buffer-limit (${'refused' in cobl ? cobl.refused : 'unreadable'}); at ${formatBytes(rate)}/s of writes the snapshot needs about ${formatBytes(need)} of replica buffer`,
            {
              ...s,
              details,
            },
          ),
        );
      else {
        const hardSmall = limit.hard > 0 && limit.hard < need;
        const softSmall = limit.soft > 0 && limit.soft < need && limit.seconds < seconds;
        if (hardSmall || softSmall)
          out.push(
            result(
              'warn',
              `${name}: client-output-buffer-limit replica ${formatBytes(limit.hard)} ${formatBytes(limit.soft)} ${limit.seconds}s is small: writing ${formatBytes(rate)}/s for the ~${Math.round(seconds)} s the snapshot takes needs about ${formatBytes(need)}, or the source drops Ferry and the sync starts over`,
              {
                ...s,
                advice: `CONFIG SET client-output-buffer-limit "replica ${need} ${need} 60" on ${endpointName(node)}${shard.primary !== node ? ` and ${endpointName(shard.primary)}` : ''}`,
                details: { ...details, ...limit },
              },
            ),
          );
      }
      const backlogInfo = await input.probe.info(node, 'replication');
      let backlog =
        backlogInfo.repl_backlog_size !== undefined ? Number(backlogInfo.repl_backlog_size) : undefined;
      if (backlog === undefined) {
        const c = await input.probe.config(node, 'repl-backlog-size');
        backlog = 'value' in c ? Number(c.value) : undefined;
      }
      const backlogNeed = Math.ceil(rate * BACKLOG_SECONDS);
      if (backlog === undefined)
        out.push(
          result(
            'warn',
            `${name}: could not read repl-backlog-size; a resume after a cut needs ${formatBytes(backlogNeed)}`,
            s,
          ),
        );
      else if (backlog < backlogNeed)
        out.push(
          result(
            'warn',
            `${name}: repl-backlog-size ${formatBytes(backlog)} holds ${(backlog / Math.max(1, rate)).toFixed(1)} s of writes at ${formatBytes(rate)}/s: a link cut longer than that forces a new full sync`,
            {
              ...s,
              advice: `CONFIG SET repl-backlog-size ${backlogNeed} on ${endpointName(node)} (${BACKLOG_SECONDS} s of writes)`,
              details: { ...details, backlog, backlogNeeded: backlogNeed },
            },
          ),
        );
      if (out.length === 0)
        out.push(
          result('pass', `${name}: replica buffer and backlog fit ${formatBytes(rate)}/s of writes`, {
            ...s,
            details,
          }),
        );
      return out;
    }),
  );
}
