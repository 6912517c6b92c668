import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { codisSlot, createEngine, MemoryCheckpointStore } from '@ferry/core';
import type { FerryError } from '@ferry/errors';
import {
  compareDeployments,
  defineSourceTopologySuite,
  formatDifferences,
  populate,
  type RedisServer,
  record,
  scanKeys,
  serverScope,
  startReplica,
  untilSynced,
  waitFor,
  writeLoad,
} from '@ferry/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { parseTopom, sourceCodis } from '../src/index.js';
import { serveDashboard, topomFixture, withAddresses } from './helpers.js';

// codis-server is a Redis 3.2 fork; no codis binaries run here, so redis-server stands in for it
defineSourceTopologySuite('codis (explicit group masters)', {
  plugin: sourceCodis,
  invalidOptions: [
    {},
    { nodes: '' },
    { nodes: 'nope' },
    { nodes: 'h:1', dashboard: 'http://h:1' },
    { dashboard: 'ftp://h' },
    { nodes: 'h:1', watchIntervalMs: 0 },
  ],
  async setup(scope) {
    const groups = await Promise.all(
      [1, 2, 3].map((i) => scope.redis({ label: `codis-g${i}`, password: 'cpw' })),
    );
    let keys = 0;
    for (const [i, g] of groups.entries())
      keys += (await populate(g.client(), { randomKeys: 200 + i * 50, catalogue: false })).keys;
    return {
      // as operators paste them: one master per line
      options: { nodes: groups.map((g) => `${g.host}:${g.port}:cpw`).join('\n') },
      shards: 3,
      keys,
      unreachable: { options: { nodes: '127.0.0.1:1' }, names: 'codis group-1' },
      wrongPassword: { nodes: groups.map((g) => `${g.host}:${g.port}:wrong`).join('\n') },
    };
  },
});

describe('codis-dashboard answer', () => {
  it('reads groups (master first), slots and their migration state from the pinned 3.2 format', () => {
    const t = parseTopom(topomFixture(), 'x');
    expect(t.version).toBe('3.2.2-go1.9.2');
    expect(t.product).toBe('codis-demo');
    expect(t.groups.map((g) => [g.id, g.servers])).toEqual([
      [1, ['10.0.0.11:6379', '10.0.0.12:6379']],
      [2, ['10.0.0.21:6379', '10.0.0.22:6379']],
      [3, ['10.0.0.31:6379', '10.0.0.32:6379']],
    ]);
    expect([1, 2, 3].map((g) => t.slotGroups.filter((x) => x === g).length)).toEqual([341, 341, 342]);
    expect(t.moving).toEqual([]);
    expect(() => parseTopom({ hello: 1 }, 'http://d/topom')).toThrow(/no "stats": is this a codis-dashboard/);
    expect(() => parseTopom({ stats: { closed: true } }, 'u')).toThrow(/closed/);
  });
});

const servers = serverScope();
afterAll(() => servers.stop());

/**
 * Three groups of master + replica with random keys, not placed by Codis slot (each group's snapshot
 * then warns of keys outside its slots; these tests do not look at that: codisGroups places them).
 */
async function groups(): Promise<{ map: Record<string, string>; masters: RedisServer[] }> {
  const map: Record<string, string> = {};
  const masters: RedisServer[] = [];
  for (const g of [1, 2, 3]) {
    const m = await servers.redis({ label: `codis-master${g}` });
    const r = servers.adopt(await startReplica(m, { label: `codis-replica${g}` }));
    await populate(m.client(), { randomKeys: 500, prefix: `g${g}:`, catalogue: false });
    map[`10.0.0.${g}1:6379`] = `${m.host}:${m.port}`;
    map[`10.0.0.${g}2:6379`] = `${r.host}:${r.port}`;
    masters.push(m);
  }
  return { map, masters };
}

function engine() {
  return createEngine({
    plugins: [sourceCodis()],
    checkpoints: new MemoryCheckpointStore(),
    spoolDir: mkdtempSync(join(tmpdir(), 'ferry-spool-')),
  });
}

/**
 * A task reading Codis through the dashboard at `dashboard` (watched every 200 ms) into `target`,
 * started and recorded.
 */
function dashboardTask(
  id: string,
  dashboard: string,
  target: RedisServer,
  o: { preferReplica?: false; snapshotThreads?: 'never' | 'always' } = {},
) {
  const task = engine().createTask({
    id,
    source: {
      topology: 'codis',
      options: {
        dashboard,
        watchIntervalMs: 200,
        ...(o.preferReplica === false ? { preferReplica: false } : {}),
      },
    },
    target: { endpoint: target.endpoint },
    ...(o.snapshotThreads ? { options: { snapshotThreads: o.snapshotThreads } } : {}),
  });
  return { task, log: record(task), running: task.start() };
}

/** The differences between the groups' masters, taken together, and the target (db 0). */
const againstGroups = (masters: RedisServer[], target: RedisServer) =>
  compareDeployments({ kind: 'sharded', nodes: masters.map((m) => m.endpoint) }, target, { dbs: [0] });

describe('codis source from the dashboard', () => {
  it('discovers the groups, migrates them, refuses a slot migration in progress and pauses when one starts', async () => {
    const { map, masters } = await groups();
    let doc = withAddresses(topomFixture(), map);
    const dashboard = await serveDashboard(() => doc);
    try {
      const plugin = sourceCodis();
      const ctx = {
        taskId: 't',
        signal: new AbortController().signal,
        log: { debug() {}, info() {}, warn() {} },
        emit() {},
      };
      const shards = await plugin.discover(plugin.parseOptions({ dashboard: dashboard.url }), ctx);
      expect(shards.map((s) => [s.id, `${s.primary.host}:${s.primary.port}`])).toEqual([
        ['group-1', map['10.0.0.11:6379']],
        ['group-2', map['10.0.0.21:6379']],
        ['group-3', map['10.0.0.31:6379']],
      ]);
      // read from each group's replica (in sync), not from the master
      expect(shards.map((s) => s.replicas.length)).toEqual([1, 1, 1]);

      // a migration in progress: refused, naming the slots and groups
      const migrating = (d: Record<string, unknown>): Record<string, unknown> => {
        const copy = structuredClone(d) as {
          stats: { slots: Array<{ id: number; action: Record<string, unknown> }> };
        };
        for (const id of [3, 4, 5, 9]) {
          const slot = copy.stats.slots[id];
          if (slot) slot.action = { index: id, state: id === 3 ? 'migrating' : 'pending', target_id: 2 };
        }
        return copy as unknown as Record<string, unknown>;
      };
      const clean = doc;
      doc = migrating(clean);
      await expect(plugin.discover(plugin.parseOptions({ dashboard: dashboard.url }), ctx)).rejects.toThrow(
        /slot migration is in progress in Codis \(slot 3 group 1 → group 2 \(migrating\); slots 4-5, 9 group 1 → group 2 \(pending\)\)/,
      );
      doc = clean;

      const target = await servers.redis({ label: 'codis-target' });
      const { task, log, running } = dashboardTask('codis1', dashboard.url, target);
      await untilSynced(task);
      const loads = masters.map((m, i) =>
        writeLoad(m.client(), {
          opsPerSec: 300,
          durationMs: 1500,
          prefix: `l${i}:`,
          mix: { set: 5, incr: 3, hset: 2 },
        }),
      );
      // a migration starts during the task: it pauses (applying stops, the links keep spooling)
      doc = migrating(clean);
      await waitFor(async () => task.state === 'paused', { timeoutMs: 10_000, what: 'the task to pause' });
      expect(
        log.warnings.some((w) => /paused: a Codis slot migration started \(slot 3 group 1 → group 2/.test(w)),
      ).toBe(true);
      expect(log.topology.some((t) => t.startsWith('slots-moving'))).toBe(true);
      await Promise.all(loads);
      doc = clean;
      task.resume();
      await untilSynced(task);
      await task.complete();
      await running;
      expect(task.state).toBe('succeeded');
      const diffs = await againstGroups(masters, target);
      expect(formatDifferences(diffs), log.warnings.join('\n')).toBe('');
    } finally {
      await dashboard.close();
    }
  });
});

/**
 * Three groups of master + replica holding keys of their own Codis slots (as codis-proxy places
 * them): `counts[g - 1]` keys `g<g>:r:<i>` each. `stray`: group 2 also holds a key of group 1's
 * slots (one codis-proxy never reads).
 */
async function codisGroups(counts: [number, number, number], stray: boolean) {
  const owner = parseTopom(topomFixture(), 'fixture').slotGroups;
  const map: Record<string, string> = {};
  const masters: RedisServer[] = [];
  let strayKey = '';
  for (const g of [1, 2, 3]) {
    const m = await servers.redis({ label: `codis-own-m${g}` });
    const r = servers.adopt(await startReplica(m, { label: `codis-own-r${g}` }));
    const p = m.client().pipeline();
    for (let i = 0, n = 0; n < (counts[g - 1] as number); i++) {
      const k = `g${g}:r:${i}`;
      const home = owner[codisSlot(Buffer.from(k))];
      if (home !== g) {
        if (stray && g === 2 && home === 1 && !strayKey) {
          strayKey = k;
          p.set(k, 'stray');
        }
        continue;
      }
      p.set(k, `v${i}`);
      n++;
    }
    await p.exec();
    map[`10.0.0.${g}1:6379`] = `${m.host}:${m.port}`;
    map[`10.0.0.${g}2:6379`] = `${r.host}:${r.port}`;
    masters.push(m);
  }
  return { owner, map, masters, strayKey };
}

/**
 * codisGroups, group 1 slow (6000 keys) and cut once while its snapshot is written, after 100 of
 * the keys already written were deleted on the source.
 */
async function cutGroupOne(threads: 'never' | 'always', stray: boolean) {
  const { map, masters, strayKey } = await codisGroups([6000, 400, 400], stray);
  const [slow] = masters as [RedisServer];
  const dashboard = await serveDashboard(() => withAddresses(topomFixture(), map));
  const target = await servers.redis({ label: 'codis-resnap-target' });
  try {
    await slow.command('CONFIG', 'SET', 'rdb-key-save-delay', '1000');
    const { task, log, running } = dashboardTask(`codis-resnap-${threads}`, dashboard.url, target, {
      preferReplica: false,
      snapshotThreads: threads,
    });
    const t = target.client();
    const written = (): Promise<string[]> => scanKeys(t, 'g1:r:*');
    await waitFor(async () => (await written()).length > 1000, {
      what: 'part of the slow group to be written',
      timeoutMs: 60_000,
    });
    const gone = (await written()).slice(0, 100);
    const c = slow.client();
    await c.del(...gone);
    // the group's replica links are cut (Ferry's and its replica's, which resyncs)
    await slow.command('CONFIG', 'SET', 'rdb-key-save-delay', '0');
    await slow.command('CLIENT', 'KILL', 'TYPE', 'replica');
    await untilSynced(task);
    // the completion checks the target against the groups: it fails, with the figures, where the
    // cleanup had to be refused and keys the source deleted remain
    const refused = await task.complete().then(
      () => undefined,
      (err: unknown) => err as FerryError,
    );
    await running.catch(() => undefined);
    c.disconnect();
    expect(log.starts.filter((s) => s.mode === 'full').length).toBe(4);
    const diffs = await againstGroups(masters, target);
    return { log, gone, strayKey, t, diffs, refused };
  } finally {
    await slow.command('CONFIG', 'SET', 'rdb-key-save-delay', '0').catch(() => undefined);
    await dashboard.close();
  }
}

describe('codis source: a group written again', () => {
  it.each([
    ['on the task thread', 'never'],
    ['on snapshot threads', 'always'],
  ] as const)(
    "removes what its source deleted since the first pass, and only its own slots' keys (%s)",
    async (_, threads) => {
      const { log, gone, t, diffs, refused } = await cutGroupOne(threads, false);
      expect(refused).toBeUndefined();
      expect(await t.exists(...gone)).toBe(0);
      expect(
        log.warnings.some((w) => /group-1.*key\(s\) of its slots removed from the target first/.test(w)),
        log.warnings.join('\n'),
      ).toBe(true);
      t.disconnect();
      // the other groups' keys stayed: nothing differs from the groups
      expect(formatDifferences(diffs), log.warnings.join('\n')).toBe('');
    },
  );

  it('notes a write outside its slots made straight to a group while streaming', async () => {
    const { owner, map, masters } = await codisGroups([200, 200, 200], false);
    const dashboard = await serveDashboard(() => withAddresses(topomFixture(), map));
    const target = await servers.redis({ label: 'codis-own-target' });
    try {
      const { task, log, running } = dashboardTask('codis-stream-stray', dashboard.url, target);
      await untilSynced(task);
      expect(log.warnings.filter((w) => /outside the slots/.test(w))).toEqual([]);
      // a key of group 1's slots, written to group 2's server itself (not through codis-proxy)
      let k = '';
      for (let i = 0; !k; i++) if (owner[codisSlot(Buffer.from(`s:${i}`))] === 1) k = `s:${i}`;
      const c = (masters[1] as RedisServer).client();
      await c.set(k, 'direct');
      c.disconnect();
      await untilSynced(task);
      expect(
        log.warnings.filter((w) => /outside the slots it was found with/.test(w)),
        log.warnings.join('\n'),
      ).toEqual([expect.stringMatching(new RegExp(`^group-2 .*"${k}" the first`))]);
      await task.complete();
      await running;
      // copied all the same
      const t = target.client();
      expect(await t.get(k)).toBe('direct');
      t.disconnect();
    } finally {
      await dashboard.close();
    }
  });

  it.each([
    ['on the task thread', 'never'],
    ['on snapshot threads', 'always'],
  ] as const)(
    'removes nothing by slot once a group held a key outside its slots, so that key stays (%s)',
    async (_, threads) => {
      const { log, gone, strayKey, t, diffs, refused } = await cutGroupOne(threads, true);
      expect(strayKey).not.toBe('');
      // and the task is not reported done: the 100 keys are counted as extra
      expect(refused?.code).toBe('NOT_IN_SYNC');
      expect(refused?.message).toMatch(
        /holds keys the source does not: \d+ keys on the source, \d+ on the target/,
      );
      const [, src, tgt] = /(\d+) keys on the source, (\d+) on the target/.exec(refused?.message ?? '') ?? [];
      expect(Number(tgt) - Number(src)).toBe(100);
      // group 2's key in group 1's slots is on the target, as group 2 holds it
      expect(await t.get(strayKey)).toBe('stray');
      expect(
        log.warnings.some((w) => /group-2 .*holds keys outside the slots it was found with/.test(w)),
        log.warnings.join('\n'),
      ).toBe(true);
      expect(
        log.warnings.some((w) =>
          /full resync of .*group-1.*the source held 1 key\(s\) outside their shard's slots/.test(w),
        ),
        log.warnings.join('\n'),
      ).toBe(true);
      // what the cleanup would have removed stays, as the warning says: the 100 deleted keys
      expect(await t.exists(...gone)).toBe(100);
      t.disconnect();
      expect(diffs.length).toBeGreaterThan(0);
    },
  );
});

describe('codis source: a resume the source refuses', () => {
  it("writes the group again without the keys deleted while its link was down, the other groups' keys kept", async () => {
    const { map, masters } = await codisGroups([2000, 300, 300], false);
    const [one] = masters as [RedisServer];
    const dashboard = await serveDashboard(() => withAddresses(topomFixture(), map));
    const target = await servers.redis({ label: 'codis-refused-target' });
    try {
      const { task, log, running } = dashboardTask('codis-refused', dashboard.url, target, {
        preferReplica: false,
      });
      await untilSynced(task);
      // the link is cut; before Ferry reconnects (its first retry waits 500 ms) 100 keys go and
      // the backlog overflows, so PSYNC is refused and the group is written again from a snapshot
      const c = one.client();
      await one.command('CONFIG', 'SET', 'repl-backlog-size', '16384');
      const gone = (await scanKeys(c, 'g1:r:*')).slice(0, 100);
      await one.command('CLIENT', 'KILL', 'TYPE', 'replica');
      await c.del(...gone);
      await c.set('g1:filler', 'x'.repeat(1 << 20));
      await c.del('g1:filler');
      await untilSynced(task);
      await task.complete();
      await running;
      c.disconnect();
      expect(log.starts.filter((s) => s.shardId === 'group-1').map((s) => s.mode)).toEqual(['full', 'full']);
      const t = target.client();
      expect(await t.exists(...gone)).toBe(0);
      t.disconnect();
      expect(
        log.warnings.some((w) => /group-1.*key\(s\) of its slots removed from the target first/.test(w)),
        log.warnings.join('\n'),
      ).toBe(true);
      const diffs = await againstGroups(masters, target);
      expect(formatDifferences(diffs), log.warnings.join('\n')).toBe('');
    } finally {
      await dashboard.close();
    }
  });
});
