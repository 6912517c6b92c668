import type { CheckInput, Endpoint } from '@ferry/core';
import { compareVersions, endpointName, readNode, targetNodes } from '@ferry/core';
import { ReplyError, type RespValue } from '@ferry/resp';
import { defineCheck, type Result, result } from '../util.js';

/** Module names loaded on a node (MODULE LIST, 4.0+); undefined when it cannot tell. */
async function modules(input: CheckInput, node: Endpoint): Promise<string[] | undefined> {
  if (compareVersions(await input.probe.version(node), '4.0.0') < 0) return [];
  try {
    const list = (await input.probe.command(node, ['MODULE', 'LIST'])) as RespValue[][];
    return list.map((m) => String(m[m.findIndex((x) => String(x) === 'name') + 1]));
  } catch (err) {
    if (err instanceof ReplyError) return undefined;
    throw err;
  }
}

/** Function libraries on a node (FUNCTION LIST, 7.0+). */
async function libraries(input: CheckInput, node: Endpoint): Promise<string[]> {
  if (compareVersions(await input.probe.version(node), '7.0.0') < 0) return [];
  const list = (await input.probe.command(node, ['FUNCTION', 'LIST'])) as RespValue[][];
  return list.map((l) => String(l[l.findIndex((x) => String(x) === 'library_name') + 1]));
}

/** The target has the source's modules; Redis functions are announced (and need a 7.0+ target). */
export function checkModulesFunctions() {
  return defineCheck(
    'modules-functions',
    'Modules and functions',
    async (input) => {
      const targets = await targetNodes(input);
      const target = targets[0] ?? input.target;
      const out: Result[] = [];
      const sourceModules = new Set<string>();
      let unknown: string | undefined;
      const libs = new Set<string>();
      for (const shard of input.shards) {
        const node = readNode(shard);
        const m = await modules(input, node);
        if (m === undefined) unknown = endpointName(node);
        else for (const x of m) sourceModules.add(x);
        for (const l of await libraries(input, node)) libs.add(l);
      }
      if (unknown)
        out.push(
          result(
            'warn',
            `could not list the modules of source ${unknown} (MODULE LIST refused): module data not verified`,
          ),
        );
      if (sourceModules.size > 0) {
        const have = await modules(input, target);
        if (have === undefined)
          out.push(
            result(
              'warn',
              `the source loads modules (${[...sourceModules].join(', ')}) but the target's modules could not be listed`,
            ),
          );
        else {
          const missing = [...sourceModules].filter((m) => !have.includes(m));
          if (missing.length > 0)
            out.push(
              result(
                'fail',
                `the source loads module(s) ${missing.join(', ')} that the target lacks: their keys cannot be restored`,
                {
                  advice: `load the same modules on every target node (loadmodule in redis.conf), same or newer versions`,
                  details: { source: [...sourceModules], target: have },
                },
              ),
            );
        }
      }
      if (libs.size > 0) {
        const tv = await input.probe.version(target);
        if (compareVersions(tv, '7.0.0') < 0)
          out.push(
            result(
              'fail',
              `the source has function libraries (${[...libs].join(', ')}) and the target (Redis ${tv}) has no functions: they would be lost`,
              {
                advice:
                  'use a Redis 7.0+ target, or rewrite the functions as EVAL scripts in the application',
              },
            ),
          );
        else
          out.push(
            result(
              'warn',
              `the source has ${libs.size} function librar${libs.size === 1 ? 'y' : 'ies'} (${[...libs].join(', ')}): Ferry loads them on every target master with FUNCTION LOAD REPLACE`,
              {
                advice: 'libraries of the same name already on the target are replaced',
                details: { libraries: [...libs] },
              },
            ),
          );
      }
      if (out.length === 0) out.push(result('pass', 'no modules and no function libraries on the source'));
      return out;
    },
    { readsTarget: true },
  );
}
