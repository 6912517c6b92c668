import { endpointName, formatBytes, readNode, targetNodes } from '@ferry/core';
import { defineCheck, result } from '../util.js';

/** The target has room for the source's data: maxmemory (summed over masters) against used_memory. */
export function checkTargetMemory() {
  return defineCheck(
    'target-memory',
    'Target memory',
    async (input) => {
      let used = 0;
      for (const shard of input.shards)
        used += Number((await input.probe.info(readNode(shard), 'memory')).used_memory ?? 0);
      const masters = await targetNodes(input);
      let max = 0;
      let unlimited = 0;
      let host = 0;
      let hostKnown = true;
      let targetUsed = 0;
      for (const node of masters) {
        const mem = await input.probe.info(node, 'memory');
        targetUsed += Number(mem.used_memory ?? 0);
        let limit = mem.maxmemory !== undefined ? Number(mem.maxmemory) : undefined;
        if (limit === undefined) {
          const c = await input.probe.config(node, 'maxmemory');
          limit = 'value' in c ? Number(c.value) : undefined;
          if (limit === undefined)
            return [
              result(
                'warn',
                `could not read maxmemory of ${endpointName(node)} (Redis before 3.2 without CONFIG access): target memory not verified`,
              ),
            ];
        }
        if (limit > 0) max += limit;
        else {
          unlimited++;
          const sys = Number(mem.total_system_memory ?? 0);
          if (sys > 0) host += sys;
          else hostKnown = false;
        }
      }
      const details = {
        sourceUsedMemory: used,
        targetMaxmemory: max,
        targetUsedMemory: targetUsed,
        unlimitedNodes: unlimited,
      };
      const what = `the source uses ${formatBytes(used)}`;
      if (unlimited > 0 && !hostKnown)
        return [
          result(
            'warn',
            `${what}; the target has no maxmemory and its host memory is unknown: room not verified`,
            {
              advice: 'set maxmemory on the target to what it may use, so Ferry can check the data fits',
              details,
            },
          ),
        ];
      // a node without maxmemory may use its host's memory
      const room = max + host - targetUsed;
      const limitText =
        unlimited > 0
          ? `${formatBytes(room)} free (no maxmemory on ${unlimited} node(s): host memory counted)`
          : `${formatBytes(room)} free under maxmemory ${formatBytes(max)}`;
      if (room < used)
        return [
          result('fail', `${what}; the target has ${limitText}: the data does not fit`, {
            advice: `raise the target's maxmemory above ${formatBytes(Math.ceil(used * 1.5))} (CONFIG SET maxmemory …), or add masters`,
            details,
          }),
        ];
      if (room < used * 1.5)
        return [
          result(
            'warn',
            `${what}; the target has ${limitText}: less than 1.5× the data, little headroom for fragmentation and growth during the migration`,
            {
              advice: `give the target at least ${formatBytes(Math.ceil(used * 1.5))}`,
              details,
            },
          ),
        ];
      return [result('pass', `${what}; the target has ${limitText}`, { details })];
    },
    { readsTarget: true },
  );
}
