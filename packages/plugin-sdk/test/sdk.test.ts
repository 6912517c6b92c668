import { describe, expect, it } from 'vitest';
import {
  type CheckInput,
  defineCheck,
  defineSourceTopology,
  describeOptions,
  nodesOption,
  type PluginContext,
  parseWithSchema,
  z,
} from '../src/index.js';

const meta = { name: 'test', version: '1.0.0', engine: '*' };

describe('options schema', () => {
  const schema = z.object({
    nodes: nodesOption('the seeds'),
    configFile: z.string().meta({ path: true, locates: true, description: 'the file' }),
    pool: z.string().optional().meta({ flag: 'pool', placeholder: 'NAME' }),
    every: z.number().int().min(50).default(1000).describe('ms between reads'),
    mode: z.enum(['fast', 'safe']).optional(),
    verbose: z.boolean().optional(),
    tags: z.array(z.string()).optional(),
    hidden: z.string().optional().meta({ flag: false }),
  });

  it('describes each field as the apps ask for it', () => {
    const fields = describeOptions(schema, 'sentinel');
    expect(fields.map((f) => [f.name, f.type, f.flag, f.required])).toEqual([
      ['nodes', 'string-list', 'sentinel-nodes', true],
      ['configFile', 'string', 'sentinel-config-file', true],
      ['pool', 'string', 'pool', false],
      ['every', 'integer', 'sentinel-every', false],
      ['mode', 'string', 'sentinel-mode', false],
      ['verbose', 'boolean', 'sentinel-verbose', false],
      ['tags', 'string-list', 'sentinel-tags', false],
      ['hidden', 'string', false, false],
    ]);
    const byName = Object.fromEntries(fields.map((f) => [f.name, f]));
    expect(byName.nodes?.role).toBe('nodes');
    expect(byName.configFile).toMatchObject({ path: true, locates: true, description: 'the file' });
    expect(byName.every).toMatchObject({ default: 1000, minimum: 50, description: 'ms between reads' });
    expect(byName.mode?.enum).toEqual(['fast', 'safe']);
    expect(byName.pool?.placeholder).toBe('NAME');
  });

  it('refuses, when the plugin is defined, a field no app could ask for', () => {
    expect(() =>
      defineSourceTopology({
        meta,
        topology: 'odd',
        options: z.object({ limits: z.object({ a: z.number() }) }),
        discover: async () => [],
      }),
    ).toThrow(/odd option "limits": an option must be text, a number, a switch or a list of texts/);
  });

  it('parses options by the schema, naming every wrong one', () => {
    expect(parseWithSchema(schema, { nodes: 'a:1', configFile: 'x' }, 'sentinel')).toMatchObject({
      every: 1000,
    });
    let err: unknown;
    try {
      parseWithSchema(schema, { nodes: 'a:1', every: 10, mode: 'slow' }, 'sentinel');
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'CONFIG_INVALID' });
    expect((err as Error).message).toMatch(
      /^sentinel options: configFile: required; every: .*>=50; mode: .*"fast"/,
    );
  });

  it('a topology without parseOptions parses by its schema', () => {
    const t = defineSourceTopology({
      meta,
      topology: 'sentinel',
      options: schema,
      discover: async () => [],
    });
    expect(t.kind).toBe('source-topology');
    expect(t.parseOptions({ nodes: ['a:1'], configFile: 'f' })).toMatchObject({ every: 1000 });
    expect(() => t.parseOptions({})).toThrow(/sentinel options: nodes/);
    expect(() =>
      defineSourceTopology({ meta, topology: 'Bad Name', options: schema, discover: async () => [] }),
    ).toThrow(/lower case/);
  });
});

describe('defineCheck', () => {
  const ctx = {} as PluginContext;
  const check = defineCheck({
    meta,
    id: 'persistence',
    title: 'Target persistence',
    readsTarget: true,
    run: async () => [{ status: 'pass', message: 'fine' }],
  });

  it("gives every result the check's id", async () => {
    expect(await check.run({ targetCluster: false } as CheckInput, ctx)).toEqual([
      { checkId: 'persistence', status: 'pass', message: 'fine' },
    ]);
  });

  it('warns instead of running when it reads the target and the target is a proxy', async () => {
    const [r] = await check.run({ targetProxy: 'twemproxy' } as CheckInput, ctx);
    expect(r).toMatchObject({ checkId: 'persistence', status: 'warn' });
    expect(r?.message).toMatch(/twemproxy proxy: "Target persistence" cannot be checked/);
  });

  it('refuses a plugin without meta', () => {
    expect(() => defineCheck({ id: 'x', title: 'x', run: async () => [] } as never)).toThrow(/needs meta/);
  });
});
