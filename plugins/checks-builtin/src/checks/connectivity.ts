import { setTimeout as sleep } from 'node:timers/promises';
import { type CheckInput, type Endpoint, endpointName, sourceNodes, targetNodes } from '@ferry/core';
import { isFerryError } from '@ferry/errors';
import { ReplyError } from '@ferry/resp';
import { defineCheck, type Result, result } from '../util.js';

const SLOW_MS = 20;

/** Why a connection failed, in the words a user searches for. */
function cause(err: unknown): string {
  const e = err as Error;
  if (err instanceof ReplyError)
    return err.kind === 'NOAUTH' ? 'NOAUTH' : err.kind === 'NOPERM' ? 'auth' : 'refused';
  if (isFerryError(err)) {
    if (err.code === 'AUTH_FAILED') return /NOAUTH|no password/i.test(e.message) ? 'NOAUTH' : 'auth';
    if (err.code === 'TIMEOUT') return 'timeout';
    if (/TLS|SSL|certificate/i.test(e.message)) return 'TLS';
    if (/refused/i.test(e.message)) return 'refused';
  }
  return 'unreachable';
}

async function probeNode(
  input: CheckInput,
  node: Endpoint,
  label: string,
  shardId?: string,
): Promise<Result> {
  const name = `${label} ${endpointName(node)}`;
  const shard = shardId ? { shardId } : {};
  try {
    await input.probe.command(node, ['PING']); // connects and logs in first
    // round trip: the best of five PINGs spread over 100 ms, so a moment of load on this machine
    // (the other checks run meanwhile) is not taken for a slow network
    let best = Number.POSITIVE_INFINITY;
    for (let i = 0; i < 5; i++) {
      if (i > 0) await sleep(25);
      const t0 = performance.now();
      await input.probe.command(node, ['PING']);
      best = Math.min(best, performance.now() - t0);
    }
    const rttMs = Math.round(best * 100) / 100;
    if (rttMs > SLOW_MS)
      return result('warn', `${name} answers in ${rttMs} ms (more than ${SLOW_MS} ms)`, {
        ...shard,
        advice:
          'run Ferry close to the source and target: every round trip slows the snapshot and the stream',
        details: { node: endpointName(node), rttMs },
      });
    return result('pass', `${name} reachable and authenticated (${rttMs} ms)`, {
      ...shard,
      details: { node: endpointName(node), rttMs },
    });
  } catch (err) {
    const why = cause(err);
    const advice =
      why === 'auth' || why === 'NOAUTH'
        ? 'check the password (and ACL user) given for this node'
        : why === 'TLS'
          ? 'check the TLS settings: rediss:// and the certificates the server expects'
          : 'check the host and port, and that this machine can reach them (firewall, bind, protected-mode)';
    const text =
      err instanceof ReplyError && err.kind === 'NOAUTH'
        ? `the server requires a password (${err.message})`
        : (err as Error).message;
    return result('fail', `${name} cannot be used: ${text}`, {
      ...shard,
      advice,
      details: { node: endpointName(node), cause: why },
    });
  }
}

/** Every source node and the target (each master of a cluster) can be reached and logged into. */
export function checkConnectivity() {
  return defineCheck('connectivity', 'Connectivity', async (input) => {
    const out: Result[] = await Promise.all(
      sourceNodes(input.shards).map(({ shard, node, role }) =>
        probeNode(input, node, `source ${role}`, shard.id),
      ),
    );
    const target = await probeNode(input, input.target, 'target');
    out.push(target);
    if (target.status !== 'fail' && input.targetCluster) {
      const masters = await targetNodes(input).catch(() => []);
      const others = masters.filter((m) => endpointName(m) !== endpointName(input.target));
      out.push(...(await Promise.all(others.map((m) => probeNode(input, m, 'target master')))));
    }
    return out;
  });
}
