import { endpointName, keyFilter, OwnKeys, readNode } from '@ferry/core';
import { defineCheck, keyspaceDbs, type Result, result } from '../util.js';

const SCAN_COUNT = 1000;

/**
 * The source's keys against two settings that decide which of them move: none may lie under the
 * reserved prefix (Ferry would take them for its own and leave them behind: a fail, with the
 * option to choose another prefix), and the filter must match at least one key (a warn: a typo
 * would copy nothing and still finish). Each SCAN stops at its first find; no find costs one pass.
 */
export function checkSourceKeys() {
  return defineCheck('source-keys', 'Source keys: reserved prefix and filter', async (input) => {
    const own = new OwnKeys(input.options.reservedPrefix);
    const heartbeat = own.heartbeat(input.taskId);
    const filter = keyFilter(input.options.filter);
    const reserved: Array<{ shard: string; db: number; key: string }> = [];
    let matched = !filter;
    let scanned = 0;
    for (const shard of input.shards) {
      const node = readNode(shard);
      for (const db of keyspaceDbs(await input.probe.info(node, 'keyspace')).keys()) {
        // keys under the reserved prefix (the task's own heartbeat from an earlier run is its own)
        let cursor = '0';
        do {
          const [next, keys] = (await input.probe.command(
            node,
            ['SCAN', cursor, 'MATCH', `${own.prefix}*`, 'COUNT', SCAN_COUNT],
            db,
          )) as [Buffer, Buffer[]];
          cursor = String(next);
          const found = keys.find((k) => own.is(k) && !k.equals(heartbeat));
          if (found) {
            reserved.push({ shard: shard.id, db, key: found.toString('latin1') });
            cursor = '0';
          }
        } while (cursor !== '0');
        if (matched) continue;
        cursor = '0';
        do {
          const [next, keys] = (await input.probe.command(
            node,
            ['SCAN', cursor, 'COUNT', SCAN_COUNT],
            db,
          )) as [Buffer, Buffer[]];
          cursor = String(next);
          scanned += keys.length;
          if (keys.some((k) => !own.is(k) && filter?.(k))) {
            matched = true;
            cursor = '0';
          }
        } while (cursor !== '0');
      }
    }
    const out: Result[] = [];
    if (reserved.length > 0)
      out.push(
        result(
          'fail',
          `the source holds keys under Ferry's reserved prefix "${own.prefix}" (${reserved
            .map(
              (r) =>
                `${JSON.stringify(r.key)} in db ${r.db}${input.shards.length > 1 ? ` of ${r.shard}` : ''}`,
            )
            .join(', ')}): they would be taken for Ferry's own and not migrated`,
          {
            advice:
              'give Ferry another prefix for its keys: --reserved-prefix __ferry2: (the task option reservedPrefix)',
            details: { prefix: own.prefix, found: reserved },
          },
        ),
      );
    else out.push(result('pass', `no source key under the reserved prefix "${own.prefix}"`));
    if (!matched)
      out.push(
        result(
          'warn',
          `the filter matches none of the source's ${scanned} keys: the migration would copy nothing`,
          {
            advice: 'check the filter (globs are matched against the whole key: user:* not user)',
            details: {
              filter: input.options.filter,
              nodes: input.shards.map((s) => endpointName(readNode(s))),
            },
          },
        ),
      );
    else if (filter) out.push(result('pass', 'the filter matches keys on the source'));
    return out;
  });
}
