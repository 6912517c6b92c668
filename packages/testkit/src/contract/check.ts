import { tmpdir } from 'node:os';
import type {
  CheckInput,
  CheckPlugin,
  CheckResult,
  CheckStatus,
  Endpoint,
  ReadOnlyProbe,
  ResolvedOptions,
} from '@ferry/plugin-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allocatePort, releasePort } from '../ports.js';
import { type ServerScope, serverScope } from '../scope.js';
import { pluginContext, withNode } from './shared.js';

/** A real source and target the check is run against, made by the plugin's own test. */
export interface CheckFixture {
  source: Endpoint;
  target: Endpoint;
  /**
   * The situations the check must tell apart: what to change on the servers first (`prepare`), and
   * the worst status it must then give (with a message matching `message`, when given).
   */
  cases: Array<{ name: string; prepare?(): Promise<void>; status: CheckStatus; message?: RegExp }>;
}

export interface CheckSuiteOptions {
  plugin: () => CheckPlugin;
  /** The read-only probe the engine gives checks (from the engine: `(signal) => new Probe(signal)`). */
  probe: (signal: AbortSignal) => ReadOnlyProbe & { close?(): void };
  /** The task's options as checks see them (from the engine: `resolveOptions()`). */
  options: ResolvedOptions;
  /** Starts the servers (through `scope`, stopped after the suite). */
  setup(scope: ServerScope): Promise<CheckFixture>;
}

const RANK: Record<CheckStatus, number> = { pass: 0, warn: 1, fail: 2 };

/** What a node has written and forked so far: a check must change neither. */
async function footprint(e: Endpoint): Promise<string> {
  return withNode(e, async (c) => {
    const info = `${await c.info('persistence')}\n${await c.info('stats')}`;
    const get = (f: string): string => new RegExp(`^${f}:(\\S+)`, 'm').exec(info)?.[1] ?? '?';
    return `changes=${get('rdb_changes_since_last_save')} forks=${get('total_forks')} keys=${await c.dbsize()}`;
  });
}

/**
 * The contract every check plugin keeps, against real servers its test starts: its shape; in each
 * situation the test sets up, results that carry its id, a sentence and advice for anything not a
 * pass, and the status expected; no write and no fork on either side; and an answer, not a hang,
 * when the target cannot be reached.
 */
export function defineCheckSuite(name: string, o: CheckSuiteOptions): void {
  describe(`check contract: ${name}`, () => {
    const scope = serverScope();
    let fixture: CheckFixture;
    beforeAll(async () => {
      fixture = await o.setup(scope);
    }, 120_000);
    afterAll(() => scope.stop());

    const run = async (target: Endpoint): Promise<CheckResult[]> => {
      const probe = o.probe(new AbortController().signal);
      const input: CheckInput = {
        taskId: 'contract',
        sourceTopology: 'standalone',
        shards: [{ id: 'source', primary: fixture.source, replicas: [] }],
        target,
        targetCluster: false,
        options: o.options,
        spoolDir: tmpdir(),
        probe,
      };
      try {
        return await o.plugin().run(input, pluginContext());
      } finally {
        probe.close?.();
      }
    };

    it('is a check plugin with an id, a title, and its name, version and engine range', () => {
      const p = o.plugin();
      expect(p.kind).toBe('check');
      expect(p.id).toMatch(/^[a-z][a-z0-9-]*$/);
      expect(p.title.length).toBeGreaterThan(0);
      expect(p.meta.name).toMatch(/^@?[\w./-]+$/);
      expect(p.meta.version).toMatch(/^\d+\.\d+\.\d+/);
      expect(p.meta.engine.length).toBeGreaterThan(0);
    });

    it('tells each situation apart, says what it saw and what to do, and only reads', async () => {
      expect(fixture.cases.length, 'give at least one case').toBeGreaterThan(0);
      for (const c of fixture.cases) {
        await c.prepare?.();
        const before = [await footprint(fixture.source), await footprint(fixture.target)];
        const results = await run(fixture.target);
        const after = [await footprint(fixture.source), await footprint(fixture.target)];
        expect(after, `${c.name}: the check wrote or forked (source, target)`).toEqual(before);
        expect(results.length, `${c.name}: at least one result`).toBeGreaterThan(0);
        for (const r of results) {
          expect(r.checkId, c.name).toBe(o.plugin().id);
          expect(['pass', 'warn', 'fail'], c.name).toContain(r.status);
          expect(r.message.length, `${c.name}: a sentence`).toBeGreaterThan(10);
          if (r.status !== 'pass') expect(r.advice ?? '', `${c.name}: advice for a ${r.status}`).not.toBe('');
        }
        const worst = results.reduce(
          (w, r) => (RANK[r.status] > RANK[w] ? r.status : w),
          'pass' as CheckStatus,
        );
        expect(worst, `${c.name}: ${results.map((r) => `${r.status} ${r.message}`).join(' | ')}`).toBe(
          c.status,
        );
        if (c.message) expect(results.map((r) => r.message).join('\n'), c.name).toMatch(c.message);
      }
    });

    it('answers (results or an error), not hangs, when the target cannot be reached', async () => {
      const port = await allocatePort(); // held for this test: nobody listens there
      const nobody = { host: '127.0.0.1', port };
      const settled = await Promise.race([
        run(nobody).then(
          () => 'answered',
          () => 'answered',
        ),
        new Promise((resolve) => setTimeout(() => resolve('hung'), 15_000)),
      ]);
      releasePort(port);
      expect(settled).toBe('answered');
    }, 20_000);
  });
}
