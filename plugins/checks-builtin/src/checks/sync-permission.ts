import { compareVersions, endpointName, sourceNodes } from '@ferry/core';
import { ReplyError, type RespValue } from '@ferry/resp';
import { defineCheck, eachNode, type Result, result } from '../util.js';

const ADVICE_ACL = (user: string): string =>
  `grant the replication commands: ACL SETUSER ${user} +psync +sync +replconf (or use a user that has them)`;

/**
 * Whether COMMAND INFO knows each name: a renamed or disabled command is gone from the command
 * table under its own name. Undefined when COMMAND itself is not there (before 2.8.13).
 */
async function known(
  send: (args: string[]) => Promise<RespValue>,
  names: string[],
): Promise<Map<string, boolean> | undefined> {
  try {
    const reply = (await send(['COMMAND', 'INFO', ...names])) as RespValue[];
    return new Map(names.map((n, i) => [n, Array.isArray(reply[i])]));
  } catch (err) {
    if (err instanceof ReplyError) return undefined;
    throw err;
  }
}

/** Whether the ACL user may run each command (ACL DRYRUN, Redis 7.0+); undefined when it cannot tell. */
async function aclAllows(
  send: (args: string[]) => Promise<RespValue>,
  user: string,
  commands: string[][],
): Promise<Map<string, string | true> | undefined> {
  const out = new Map<string, string | true>();
  for (const argv of commands) {
    try {
      const r = await send(['ACL', 'DRYRUN', user, ...argv]);
      out.set(argv[0] as string, String(r) === 'OK' ? true : String(r));
    } catch (err) {
      if (err instanceof ReplyError) return undefined; // no DRYRUN here, or no right to ask
      throw err;
    }
  }
  return out;
}

/** PSYNC (or SYNC) is neither renamed nor disabled, and the ACL user may run it, on every source node. */
export function checkSyncPermission() {
  return defineCheck('sync-permission', 'Replication permission (PSYNC/SYNC)', async (input) =>
    eachNode(sourceNodes(input.shards), 'the replication permission', async ({ shard, node, role }) => {
      const name = `source ${role} ${endpointName(node)}`;
      const send = async (args: string[]): Promise<RespValue> =>
        (await input.probe.command(node, args)) as RespValue;
      const version = await input.probe.version(node);
      const out: Result[] = [];
      const table = await known(send, ['psync', 'sync', 'replconf']);
      if (!table) {
        out.push(
          result(
            'warn',
            `${name} (Redis ${version}) has no COMMAND INFO: could not verify that PSYNC/SYNC are enabled`,
            {
              shardId: shard.id,
            },
          ),
        );
      } else {
        const psync = table.get('psync') === true;
        const sync = table.get('sync') === true;
        if (!psync && !sync)
          return [
            result('fail', `${name} has PSYNC and SYNC renamed or disabled: Ferry cannot replicate from it`, {
              shardId: shard.id,
              advice:
                'remove the rename-command lines for PSYNC/SYNC on this node, or point Ferry at a replica you control; managed services often block replication',
              details: { psync, sync },
            }),
          ];
        if (!psync && compareVersions(version, '2.8.0') >= 0)
          out.push(
            result(
              'warn',
              `${name} has PSYNC renamed or disabled: Ferry falls back to SYNC, so any interruption means a new full sync (no resume)`,
              {
                shardId: shard.id,
                advice: 'allow PSYNC on this node so a cut link resumes with +CONTINUE',
                details: { psync, sync },
              },
            ),
          );
      }
      if (compareVersions(version, '6.0.0') >= 0) {
        const user = node.username ?? 'default';
        const allowed = await aclAllows(send, user, [
          ['psync', '?', '-1'],
          ['sync'],
          ['replconf', 'listening-port', '0'],
        ]);
        if (!allowed) {
          if (node.username)
            out.push(
              result(
                'warn',
                `${name}: could not verify that ACL user "${user}" may run PSYNC (ACL DRYRUN needs Redis 7.0 and the right to run it)`,
                { shardId: shard.id, advice: ADVICE_ACL(user) },
              ),
            );
        } else {
          const denied = [...allowed].filter(([, v]) => v !== true);
          const psyncOk = allowed.get('psync') === true;
          const syncOk = allowed.get('sync') === true;
          const replconfOk = allowed.get('replconf') === true;
          if ((!psyncOk && !syncOk) || !replconfOk)
            return [
              result(
                'fail',
                `${name}: ACL user "${user}" may not replicate (${denied.map(([c, why]) => `${c.toUpperCase()}: ${why}`).join('; ')})`,
                { shardId: shard.id, advice: ADVICE_ACL(user), details: Object.fromEntries(allowed) },
              ),
            ];
          if (!psyncOk)
            out.push(
              result(
                'warn',
                `${name}: ACL user "${user}" may run SYNC but not PSYNC: no resume after an interruption`,
                {
                  shardId: shard.id,
                  advice: ADVICE_ACL(user),
                },
              ),
            );
        }
      }
      if (out.length === 0) out.push(result('pass', `${name} allows PSYNC for Ferry`, { shardId: shard.id }));
      return out;
    }),
  );
}
