import {
  type CheckInput,
  compareVersions,
  type Endpoint,
  endpointName,
  formatBytes,
  LENGTH_COMMAND,
  readNodes,
} from '@ferry/core';
import type { RespValue } from '@ferry/resp';
import { defineCheck, eachNode, keyspaceDbs, type Result, result } from '../util.js';

export interface BigKeysOptions {
  /** A key with more elements than this is big. Default 1 000 000. */
  elements?: number;
  /** Time the scan may take per node. Default 1500 ms. */
  budgetMs?: number;
  /** Keys sampled per node at most. Default 100 000. */
  maxKeys?: number;
  /** Big keys listed at most. Default 20. */
  list?: number;
}

interface Big {
  db: number;
  key: string;
  type: string;
  elements: number;
  bytes: number | undefined;
}

async function scanNode(
  input: CheckInput,
  node: Endpoint,
  o: Required<BigKeysOptions>,
): Promise<{ scanned: number; total: number; complete: boolean; big: Big[]; memoryUsage: boolean }> {
  const deadline = performance.now() + o.budgetMs;
  const dbs = keyspaceDbs(await input.probe.info(node, 'keyspace'));
  const memoryUsage = compareVersions(await input.probe.version(node), '4.0.0') >= 0;
  const big: Big[] = [];
  let scanned = 0;
  let complete = true;
  const total = [...dbs.values()].reduce((a, b) => a + b, 0);
  for (const db of dbs.keys()) {
    let cursor = '0';
    do {
      if (performance.now() > deadline || scanned >= o.maxKeys) {
        complete = false;
        break;
      }
      const [next, keys] = (await input.probe.command(node, ['SCAN', cursor, 'COUNT', 1000], db)) as [
        Buffer,
        Buffer[],
      ];
      cursor = String(next);
      const types = await Promise.all(keys.map((k) => input.probe.command(node, ['TYPE', k], db)));
      const measured = await Promise.all(
        keys.map(async (k, i) => {
          const type = String(types[i]);
          const cmd = LENGTH_COMMAND[type];
          const [len, mem] = await Promise.all([
            cmd ? (input.probe.command(node, [cmd, k], db) as Promise<RespValue>) : Promise.resolve(0),
            memoryUsage
              ? (input.probe.command(node, ['MEMORY', 'USAGE', k], db) as Promise<RespValue>)
              : Promise.resolve(null),
          ]);
          return { k, type, len: Number(len), mem: mem === null ? undefined : Number(mem) };
        }),
      );
      scanned += keys.length;
      for (const m of measured) {
        const elements = m.type === 'string' ? 1 : m.len;
        const bytes = m.mem ?? (m.type === 'string' ? m.len : undefined);
        if (elements > o.elements || (bytes ?? 0) > input.options.bigKeyThreshold)
          big.push({ db, key: m.k.toString('latin1'), type: m.type, elements, bytes });
      }
    } while (cursor !== '0');
    if (!complete) break;
  }
  big.sort((a, b) => (b.bytes ?? 0) - (a.bytes ?? 0) || b.elements - a.elements);
  return { scanned, total, complete, big, memoryUsage };
}

/**
 * Keys past the big-key threshold (bytes, from MEMORY USAGE) or with more elements than a million,
 * found by a SCAN of each source node bounded in time and keys (a sample on big datasets).
 */
export function checkBigKeys(options: BigKeysOptions = {}) {
  const o: Required<BigKeysOptions> = {
    elements: options.elements ?? 1_000_000,
    budgetMs: options.budgetMs ?? 1500,
    maxKeys: options.maxKeys ?? 100_000,
    list: options.list ?? 20,
  };
  return defineCheck('big-keys', 'Big keys', async (input) =>
    eachNode(readNodes(input.shards), 'big keys', async ({ shard, node }): Promise<Result[]> => {
      const r = await scanNode(input, node, o);
      const seen = r.complete
        ? `all ${r.scanned} keys`
        : `a sample of ${r.scanned} of ${r.total} keys (time-bounded)`;
      const details = {
        scanned: r.scanned,
        total: r.total,
        complete: r.complete,
        thresholdBytes: input.options.bigKeyThreshold,
        thresholdElements: o.elements,
        big: r.big.slice(0, o.list),
      };
      if (r.big.length === 0)
        return [
          result('pass', `source ${endpointName(node)}: no big key in ${seen}`, {
            shardId: shard.id,
            details,
          }),
        ];
      const top = r.big
        .slice(0, 5)
        .map(
          (b) =>
            `${JSON.stringify(b.key.length > 60 ? `${b.key.slice(0, 60)}…` : b.key)} (db ${b.db}, ${b.type}, ${b.elements} elements${b.bytes !== undefined ? `, ${formatBytes(b.bytes)}` : ''})`,
        )
        .join(', ');
      return [
        result('warn', `source ${endpointName(node)}: ${r.big.length} big key(s) in ${seen}: ${top}`, {
          shardId: shard.id,
          advice:
            'big keys are written in chunks (rewrite path) and may slow the target while they load; a DEL or expiry of one blocks the source for as long',
          details,
        }),
      ];
    }),
  );
}
