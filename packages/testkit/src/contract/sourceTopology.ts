import { describeOptions, type SourceTopologyPlugin } from '@ferry/plugin-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServerScope, serverScope } from '../scope.js';
import { pluginContext as context, withNode } from './shared.js';

/** The plugin under test (any options type: the suite only passes its own parseOptions' result on). */
// biome-ignore lint/suspicious/noExplicitAny: a plugin of any options type is under test
export type SourceTopologyUnderTest = SourceTopologyPlugin<any>;

/** A real deployment the plugin is run against, made by the plugin's own test. */
export interface SourceTopologyFixture {
  /** Options that discover the deployment. */
  options: unknown;
  /** How many shards discovery must find. */
  shards: number;
  /** Keys written into the deployment: the shards' primaries must hold exactly these between them. */
  keys: number;
  /** Options naming a node nobody listens on: discovery must fail with an error that names it. */
  unreachable?: { options: unknown; names: string };
  /** Options with a wrong password: discovery must fail with AUTH_FAILED. */
  wrongPassword?: unknown;
}

export interface SourceTopologySuiteOptions {
  plugin: () => SourceTopologyUnderTest;
  /** Option values parseOptions must refuse (CONFIG_INVALID with a message). */
  invalidOptions: unknown[];
  /** Starts the deployment (servers through `scope`, stopped after the suite) and fills it. */
  setup(scope: ServerScope): Promise<SourceTopologyFixture>;
}

function roleOf(info: string): string | undefined {
  return /^role:(\w+)/m.exec(info)?.[1];
}

/**
 * The contract every source-topology plugin keeps, checked against a real deployment the plugin's
 * test starts: its shape, refused options, shards that are real primaries (with replicas of them)
 * holding every key between them, stable names, clear errors for a dead node or a wrong password,
 * and a watcher (when it has one) that ends when told to.
 */
export function defineSourceTopologySuite(name: string, o: SourceTopologySuiteOptions): void {
  describe(`source-topology contract: ${name}`, () => {
    const scope = serverScope();
    let fixture: SourceTopologyFixture;
    beforeAll(async () => {
      fixture = await o.setup(scope);
    }, 120_000);
    afterAll(() => scope.stop());

    it('is a source-topology plugin with its name, version and engine range', () => {
      const p = o.plugin();
      expect(p.kind).toBe('source-topology');
      expect(p.topology).toMatch(/^[a-z][a-z0-9-]*$/);
      expect(p.meta.name).toMatch(/^@?[\w./-]+$/);
      expect(p.meta.version).toMatch(/^\d+\.\d+\.\d+/);
      expect(p.meta.engine.length).toBeGreaterThan(0);
    });

    it('describes its options, so the CLI, the gateway and the console can ask for them', () => {
      const p = o.plugin();
      expect(p.options, 'an options schema (zod, through the SDK)').toBeDefined();
      const fields = describeOptions(p.options as NonNullable<typeof p.options>, p.topology);
      for (const f of fields) expect(f.description, `option ${f.name} needs a description`).not.toBe('');
      const flags = fields.flatMap((f) => (f.flag && !f.role ? [f.flag] : []));
      expect(new Set(flags).size, `flags must be unique: ${flags.join(', ')}`).toBe(flags.length);
    });

    it('refuses bad options with CONFIG_INVALID and a message', () => {
      const p = o.plugin();
      for (const bad of o.invalidOptions) {
        let error: unknown;
        try {
          p.parseOptions(bad);
        } catch (err) {
          error = err;
        }
        expect(error, `parseOptions(${JSON.stringify(bad)}) must throw`).toBeInstanceOf(Error);
        expect((error as { code?: string }).code, JSON.stringify(bad)).toBe('CONFIG_INVALID');
        expect((error as Error).message.length).toBeGreaterThan(10);
      }
    });

    it('discovers real primaries (and replicas of them) that hold every key between them', async () => {
      const p = o.plugin();
      const shards = await p.discover(p.parseOptions(fixture.options), context());
      expect(shards.length).toBe(fixture.shards);
      const ids = shards.map((s) => s.id);
      expect(new Set(ids).size, `shard ids must be unique: ${ids.join(', ')}`).toBe(ids.length);
      for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9._:-]{1,100}$/);
      let keys = 0;
      for (const s of shards) {
        const info = await withNode(s.primary, (c) => c.info('replication'));
        expect(roleOf(info), `${s.primary.host}:${s.primary.port} must be a primary`).toBe('master');
        keys += await withNode(s.primary, async (c) => {
          const ks = await c.info('keyspace');
          let n = 0;
          for (const m of ks.matchAll(/^db\d+:keys=(\d+)/gm)) n += Number(m[1]);
          return n;
        });
        for (const r of s.replicas) {
          const rinfo = await withNode(r, (c) => c.info('replication'));
          expect(roleOf(rinfo), `${r.host}:${r.port} must be a replica`).toBe('slave');
          expect(Number(/^master_port:(\d+)/m.exec(rinfo)?.[1])).toBe(s.primary.port);
        }
      }
      expect(keys).toBe(fixture.keys);
    });

    it('names shards the same way every time', async () => {
      const p = o.plugin();
      const opts = p.parseOptions(fixture.options);
      const a = await p.discover(opts, context());
      const b = await p.discover(opts, context());
      expect(b.map((s) => s.id).sort()).toEqual(a.map((s) => s.id).sort());
    });

    it('fails clearly on a node nobody listens on and on a wrong password', async () => {
      const p = o.plugin();
      if (fixture.unreachable) {
        const err = await p.discover(p.parseOptions(fixture.unreachable.options), context()).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err, 'discover must fail on an unreachable node').toBeInstanceOf(Error);
        expect((err as Error).message).toContain(fixture.unreachable.names);
      }
      if (fixture.wrongPassword !== undefined) {
        const err = await p.discover(p.parseOptions(fixture.wrongPassword), context()).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err, 'discover must fail on a wrong password').toBeInstanceOf(Error);
        expect((err as { code?: string }).code).toBe('AUTH_FAILED');
      }
    });

    it('stops watching when told to', async () => {
      const p = o.plugin();
      if (!p.watch) return;
      const stop = new AbortController();
      const it = p.watch(p.parseOptions(fixture.options), context(stop.signal))[Symbol.asyncIterator]();
      const next = it.next();
      setTimeout(() => stop.abort(), 300);
      const started = Date.now();
      const r = await Promise.race([
        next,
        new Promise((_, reject) =>
          setTimeout(() => reject(new Error('watch did not end 5 s after abort')), 5300),
        ),
      ]);
      expect((r as IteratorResult<unknown>).done).toBe(true);
      expect(Date.now() - started).toBeLessThan(5300);
    });
  });
}
