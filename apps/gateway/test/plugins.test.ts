/**
 * Plugins in the gateway, as a third party ships them: the example Sentinel topology and the example
 * persistence check, loaded by name (FERRY_PLUGINS). The topology's options become a typed GraphQL
 * input and a form description with no edit to the gateway; its check runs in the precheck.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { loadPlugins } from '@ferry/core';
import { compareDeployments, formatDifferences, populate, serverScope, waitFor } from '@ferry/testkit';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { startGateway } from '../src/index.js';
import { sourcePlugins } from '../src/service.js';
import { gql, ok } from './client.js';

const run = promisify(execFile);
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const main = join(root, 'apps', 'gateway', 'dist', 'main.js');
const NAMES = [
  '@ferry/example-source-sentinel',
  '@ferry/example-check-target-persistence',
  '@ferry/example-transform-hash-tags',
];

const servers = serverScope();
afterAll(() => servers.stop());
const silent = pino({ level: 'silent' }, new Writable({ write: (_c, _e, cb) => cb() }));

describe('plugins in the gateway', () => {
  it('FERRY_PLUGINS adds the topology’s typed options input to the schema', async () => {
    const plain = (await run(process.execPath, [main, 'schema'], { cwd: root })).stdout;
    expect(plain).not.toContain('SentinelSourceOptions');
    const { stdout } = await run(process.execPath, [main, 'schema'], {
      cwd: root,
      env: { ...process.env, FERRY_PLUGINS: NAMES.join(',') },
    });
    expect(stdout).toMatch(/input SourceOptionsInput \{[^}]*sentinel: SentinelSourceOptions/s);
    expect(stdout).toMatch(
      /input SentinelSourceOptions \{[^}]*sentinels: \[String!\]![^}]*masterName: String![^}]*sentinelPassword: String/s,
    );
    // what every server topology shares stays on SourceInput, not in the topology's own input
    expect(stdout).not.toMatch(/input SentinelSourceOptions \{[^}]*preferReplica/s);
  });

  it('creates, prechecks (with the plugin check) and completes a task through the plugin topology', async () => {
    const primary = await servers.redis({ label: 'primary' });
    const sentinel = await servers.redis({
      label: 'sentinel',
      sentinel: { name: 'orders', master: primary.endpoint },
    });
    const c = primary.client();
    await populate(c, { randomKeys: 1500 });
    c.disconnect();
    const target = await servers.redis({ label: 'target' });
    const gw = await startGateway({
      port: 0,
      dataDir: mkdtempSync(join(tmpdir(), 'ferry-gw-plugins-')),
      tokens: ['test-token'],
      logger: silent,
      progressEveryMs: 200,
      plugins: [...sourcePlugins(), ...(await loadPlugins(NAMES, root))],
    });
    try {
      const { sourceTopologies } = await ok<{
        sourceTopologies: Array<{
          topology: string;
          optionsField: string | null;
          takesNodes: boolean;
          options: Array<{ name: string; type: string; required: boolean; secret: boolean }>;
        }>;
      }>(
        gw.url,
        '{ sourceTopologies { topology optionsField takesNodes options { name type required secret } } }',
      );
      const s = sourceTopologies.find((t) => t.topology === 'sentinel');
      expect(s).toMatchObject({ optionsField: 'sentinel', takesNodes: false });
      expect(s?.options.map((o) => [o.name, o.type, o.required, o.secret])).toEqual([
        ['sentinels', 'string-list', true, false],
        ['masterName', 'string', true, false],
        ['sentinelPassword', 'string', false, true],
        ['watchIntervalMs', 'integer', false, false],
      ]);

      const create = (source: Record<string, unknown>) =>
        gql<{ createTask: { id: string } }>(
          gw.url,
          'mutation($input: CreateTaskInput!) { createTask(input: $input) { id } }',
          {
            input: {
              name: 'via sentinel',
              source,
              target: { endpoint: { host: target.host, port: target.port } },
            },
          },
        );
      // the transform is listed, and a task naming one that is not loaded is refused
      const { plugins } = await ok<{ plugins: Array<{ kind: string; id: string }> }>(
        gw.url,
        '{ plugins { kind id } }',
      );
      expect(plugins).toContainEqual({ kind: 'transform', id: 'hash-tags' });
      const noSuch = await gql(
        gw.url,
        'mutation($input: CreateTaskInput!) { createTask(input: $input) { id } }',
        {
          input: {
            name: 'no such transform',
            source: { topology: 'standalone', nodes: [{ host: primary.host, port: primary.port }] },
            target: { endpoint: { host: target.host, port: target.port } },
            options: { transforms: ['nope'] },
          },
        },
      );
      expect(noSuch.errors?.[0]?.extensions?.code).toBe('BAD_INPUT');
      expect(noSuch.errors?.[0]?.message).toContain('no transform "nope" is registered (have: hash-tags)');
      // another topology's options, or a wrong value: refused, naming what is wrong
      const wrong = await create({ topology: 'sentinel', options: { file: { files: ['/x.rdb'] } } });
      expect(wrong.errors?.[0]?.extensions?.code).toBe('BAD_INPUT');
      expect(wrong.errors?.[0]?.message).toContain(
        "options.file is for a file source; this source's topology is sentinel",
      );
      const missing = await create({
        topology: 'sentinel',
        options: { sentinel: { sentinels: ['127.0.0.1:1'], masterName: '' } },
      });
      expect(missing.errors?.[0]?.extensions?.code).toBe('BAD_INPUT');
      expect(missing.errors?.[0]?.message).toMatch(/sentinel options: masterName/);

      const made = await create({
        topology: 'sentinel',
        options: { sentinel: { sentinels: [`${sentinel.host}:${sentinel.port}`], masterName: 'orders' } },
      });
      const id = made.data?.createTask.id as string;
      expect(id, JSON.stringify(made.errors)).toBeTruthy();
      const { runPrecheck } = await ok<{
        runPrecheck: { status: string; results: Array<{ checkId: string; status: string; message: string }> };
      }>(
        gw.url,
        'mutation($id: ID!) { runPrecheck(taskId: $id) { status results { checkId status message } } }',
        { id },
      );
      const persistence = runPrecheck.results.find((r) => r.checkId === 'target-persistence');
      expect(persistence).toMatchObject({ status: 'warn' });
      expect(persistence?.message).toContain('persists nothing');
      expect(runPrecheck.status).toBe('warn');
      await ok(gw.url, 'mutation($id: ID!) { acknowledgeWarnings(taskId: $id) { id } }', { id });
      await ok(gw.url, 'mutation($id: ID!) { startTask(taskId: $id) { id } }', { id });
      const status = async (): Promise<string> =>
        (
          await ok<{ task: { status: string } }>(gw.url, 'query($id: ID!) { task(id: $id) { status } }', {
            id,
          })
        ).task.status;
      await waitFor(async () => (await status()) === 'incremental_sync', {
        what: 'streaming',
        timeoutMs: 60_000,
      });
      await waitFor(
        async () =>
          !(await gql(gw.url, 'mutation($id: ID!) { completeTask(taskId: $id) { status } }', { id })).errors,
        { what: 'the lag to reach 0', timeoutMs: 30_000 },
      );
      await waitFor(async () => (await status()) === 'succeeded', {
        what: 'the task to succeed',
        timeoutMs: 30_000,
      });
      expect(formatDifferences(await compareDeployments(primary, target))).toBe('');
    } finally {
      await gw.close();
    }
  });
});
