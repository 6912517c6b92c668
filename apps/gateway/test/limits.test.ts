import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Gateway, startGateway } from '../src/index.js';
import { gql } from './client.js';

const CREATE = `mutation($input: CreateTaskInput!) { createTask(input: $input) { id options {
  dbMap { source db prefix } filter { include { prefix glob regex } exclude { glob } } writeMode conflict } } }`;
const input = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  name: 'limits',
  source: { topology: 'standalone', nodes: [{ host: '127.0.0.1', port: 1 }] },
  target: { endpoint: { host: '127.0.0.1', port: 2 } },
  ...over,
});

let gw: Gateway;
let logged = 0;
beforeAll(async () => {
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logged = Math.max(logged, chunk.length);
      cb();
    },
  });
  gw = await startGateway({
    port: 0,
    dataDir: mkdtempSync(join(tmpdir(), 'ferry-gw-limits-')),
    tokens: ['test-token'],
    logger: pino({ level: 'info' }, sink),
  });
});
afterAll(async () => {
  await gw?.close();
});

describe('the gateway refuses what it cannot serve, quickly and clearly', () => {
  it('a misspelled or mistyped task option is BAD_INPUT, not stored and ignored', async () => {
    const typo = await gql(gw.url, CREATE, { input: input({ options: { filtr: 'user:*' } }) });
    expect(typo.errors?.[0]?.extensions?.code).toBe('BAD_INPUT');
    expect(typo.errors?.[0]?.message).toMatch(/"filtr" is not defined by type "TaskOptionsInput"/);
    const nested = await gql(gw.url, CREATE, {
      input: input({ options: { filter: { include: [{ glob: 'a[' }] } } }),
    });
    expect(nested.errors?.[0]?.extensions?.code).toBe('BAD_INPUT');
    expect(nested.errors?.[0]?.message).toMatch(/is never closed/);
    const rate = await gql(gw.url, CREATE, { input: input({ options: { rateLimit: { keys: 5 } } }) });
    expect(rate.errors?.[0]?.extensions?.code).toBe('BAD_INPUT');
    expect(rate.errors?.[0]?.message).toMatch(/"keys" is not defined by type "RateLimitInput"/);
    const two = await gql(gw.url, CREATE, {
      input: input({ options: { filter: { include: [{ glob: 'a*', prefix: 'b' }] } } }),
    });
    expect(two.errors?.[0]?.extensions?.code).toBe('BAD_INPUT');
    expect(two.errors?.[0]?.message).toMatch(/exactly one of prefix, glob or regex/);
    const mode = await gql(gw.url, CREATE, { input: input({ options: { writeMode: 'fast' } }) });
    expect(mode.errors?.[0]?.extensions?.code).toBe('BAD_INPUT');
    const db = await gql(gw.url, CREATE, {
      input: input({ options: { dbMap: [{ source: 'x', db: 0 }] } }),
    });
    expect(db.errors?.[0]?.message).toMatch(/db map: source "x" is not a db number or \*/);
    const fine = await gql<{ createTask: { options: unknown } }>(gw.url, CREATE, {
      input: input({
        options: {
          filter: { include: [{ glob: 'a*' }] },
          dbMap: [{ source: '1', db: 0, prefix: 'db1:' }],
          writeMode: 'rewrite',
        },
      }),
    });
    expect(fine.errors).toBeUndefined();
    // the options read back typed, as given
    expect(fine.data?.createTask.options).toEqual({
      dbMap: [{ source: '1', db: 0, prefix: 'db1:' }],
      filter: { include: [{ prefix: null, glob: 'a*', regex: null }], exclude: [] },
      writeMode: 'rewrite',
      conflict: null,
    });
    const { data } = await gql<{ tasks: { total: number } }>(gw.url, '{ tasks { total } }');
    expect(data?.tasks.total).toBe(1);
  });

  it('text lengths: a megabyte task name is refused, and never logged whole', async () => {
    const huge = await gql(gw.url, CREATE, { input: input({ name: 'n'.repeat(1_000_000) }) });
    expect(huge.errors?.[0]?.extensions?.code).toBe('BAD_INPUT');
    expect(huge.errors?.[0]?.message).toMatch(/at most 200 characters \(got 1000000\)/);
    const tags = await gql(gw.url, CREATE, { input: input({ tags: ['t'.repeat(65)] }) });
    expect(tags.errors?.[0]?.message).toMatch(/a tag has at most 64 characters/);
    expect(logged).toBeLessThan(100_000);
  });

  it('3 000 aliases, deep nesting and a body over the limit are refused before any work', async () => {
    const aliases = Array.from(
      { length: 3000 },
      (_, i) => `a${i}: tasks { total items { id events { total } metrics { at } } }`,
    );
    const started = process.hrtime.bigint();
    const many = await gql(gw.url, `{ ${aliases.join(' ')} }`);
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    expect(many.status).toBe(400);
    expect(many.errors?.[0]?.message).toMatch(/more than 30 aliased fields/);
    expect(ms, 'answered without resolving anything').toBeLessThan(5000);
    // fragments count where they are used
    const frag = await gql(
      gw.url,
      `query { ${Array.from({ length: 40 }, (_, i) => `t${i}: tasks { ...F }`).join(' ')} } fragment F on TaskPage { total }`,
    );
    expect(frag.errors?.[0]?.message).toMatch(/aliased fields/);
    const deep = await gql(
      gw.url,
      `{ __schema { types { fields { type { ofType { ofType { ofType { ofType { ofType { ofType { name } } } } } } } } } } }`,
    );
    expect(deep.errors?.[0]?.message).toMatch(/levels deep \(at most 10\)/);
    const body = JSON.stringify({ query: '{ tasks { total } }', variables: { pad: 'x'.repeat(5 << 20) } });
    const res = await fetch(gw.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer test-token' },
      body,
    });
    expect(res.status).toBe(413);
    expect(((await res.json()) as { errors: Array<{ message: string }> }).errors[0]?.message).toMatch(
      /over 1 MB/,
    );
    // and the gateway still answers
    expect((await gql(gw.url, '{ tasks { total } }')).status).toBe(200);
  });
});
