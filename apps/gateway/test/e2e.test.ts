import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import {
  compareDeployments,
  formatDifferences,
  type Postgres,
  populate,
  serverScope,
  startPostgres,
  waitFor,
  writeLoad,
} from '@ferry/testkit';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { schemaSdl, startGateway } from '../src/index.js';
import { errorCode, gql, ok, subscribe } from './client.js';

const servers = serverScope();
let pg: Postgres | undefined;
afterAll(async () => {
  await servers.stop();
  await pg?.stop();
});

const SECRET = 'src-pass-7f3e9c-in-clear-nowhere';

const CREATE = `mutation($input: CreateTaskInput!) { createTask(input: $input) { id status allowedActions source { nodes { host port hasPassword } } } }`;
const TASK = `query($id: ID!) { task(id: $id) { id status allowedActions warningsAcknowledged error
  source { topology detail nodes { host port hasPassword } } target { endpoint { host port hasPassword } cluster }
  checkReport { status results { checkId status message } } shards { shardId phase keys }
  events(page: { limit: 500 }) { total items { kind message } } } }`;

describe('the gateway', () => {
  it('exports the schema it serves (schema.graphql is up to date)', async () => {
    const checkedIn = readFileSync(new URL('../schema.graphql', import.meta.url), 'utf8');
    expect(checkedIn, 'run `pnpm --filter @ferry/gateway schema` and commit schema.graphql').toBe(
      await schemaSdl(),
    );
  });

  for (const storage of ['sqlite', 'postgresql'] as const) {
    it(`runs a task end to end over HTTP and WebSocket: create, precheck, acknowledge, start, progress, complete (${storage})`, async () => {
      const dataDir = mkdtempSync(join(tmpdir(), 'ferry-gw-'));
      const logLines: string[] = [];
      const logger = pino(
        { level: 'debug' },
        new Writable({
          write(chunk, _enc, cb) {
            logLines.push(String(chunk));
            cb();
          },
        }),
      );
      let url: string | undefined;
      if (storage === 'postgresql') {
        pg ??= await startPostgres();
        url = pg.url;
      }
      const gw = await startGateway({
        port: 0,
        dataDir,
        tokens: ['test-token'],
        logger,
        progressEveryMs: 200,
        storage: { ...(url ? { url } : {}), sqlitePath: join(dataDir, 'ferry.db') },
      });
      try {
        // no token: 401 and a refused WebSocket
        const anon = await gql(gw.url, '{ tasks { total } }', {}, null);
        expect(anon.status, anon.raw).toBe(401);
        expect((await gql(gw.url, '{ tasks { total } }', {}, 'wrong')).status).toBe(401);
        const refused = subscribe(
          gw.wsUrl,
          'subscription($id: ID!) { taskEvents(taskId: $id) { kind } }',
          { id: 'x' },
          null,
        );
        expect((await refused.closed).code).toBe(4403);
        // a subscription to a task that does not exist is an error, not a silence
        const ghost = subscribe(gw.wsUrl, 'subscription { taskProgress(taskId: "nope") { state } }', {});
        expect((await ghost.closed).error).toBe('no task "nope" [NOT_FOUND]');
        ghost.stop();
        expect((await fetch(gw.url.replace('/graphql', '/healthz'))).status).toBe(200);

        const source = await servers.redis({ label: `gw-src-${storage}`, password: SECRET });
        await populate(source.client(), { randomKeys: 2000 });
        // a warning the user must acknowledge: the target may evict
        const target = await servers.cluster({ masters: 3, config: { 'maxmemory-policy': 'allkeys-lru' } });
        const seed = target.seeds[0] as { host: string; port: number };
        const created = await ok<{
          createTask: {
            id: string;
            status: string;
            allowedActions: string[];
            source: { nodes: Array<{ hasPassword: boolean }> };
          };
        }>(gw.url, CREATE, {
          input: {
            name: 'orders → cluster',
            tags: ['e2e'],
            source: {
              topology: 'standalone',
              nodes: [{ host: source.host, port: source.port, password: SECRET }],
            },
            target: { endpoint: { host: seed.host, port: seed.port }, cluster: true },
          },
        });
        const id = created.createTask.id;
        expect(created.createTask.status).toBe('created');
        expect(created.createTask.source.nodes[0]?.hasPassword).toBe(true);
        expect(created.createTask.allowedActions).toContain('precheck');
        expect(created.createTask.allowedActions).not.toContain('start');

        const conn = await ok<{
          a: { ok: boolean; version: string; rttMs: number };
          b: { ok: boolean; message: string };
        }>(
          gw.url,
          `mutation($a: EndpointInput!, $b: EndpointInput!) { a: testConnectivity(endpoint: $a) { ok version rttMs message }
            b: testConnectivity(endpoint: $b) { ok message } }`,
          {
            a: { host: source.host, port: source.port, password: SECRET },
            b: { host: '127.0.0.1', port: 1 },
          },
        );
        expect(conn.a.ok).toBe(true);
        expect(conn.a.version).toMatch(/^\d+\.\d+/);
        expect(conn.b.ok).toBe(false);
        expect(conn.b.message).toContain('127.0.0.1:1');

        // invalid inputs: stable codes
        expect(await errorCode(gw.url, TASK, { id: 'nope' })).toBe('NOT_FOUND');
        expect(await errorCode(gw.url, 'mutation($id: ID!) { pauseTask(taskId: $id) { id } }', { id })).toBe(
          'ACTION_NOT_ALLOWED',
        );
        expect(await errorCode(gw.url, 'mutation($id: ID!) { startTask(taskId: $id) { id } }', { id })).toBe(
          'PRECHECK_REQUIRED',
        );
        expect(
          await errorCode(gw.url, CREATE, {
            input: {
              name: 'bad',
              source: { topology: 'standalone', nodes: [{ host: 'h', port: 0 }] },
              target: { endpoint: { host: 'h', port: 1 } },
            },
          }),
        ).toBe('BAD_INPUT');
        expect(
          await errorCode(gw.url, CREATE, {
            input: {
              name: 'bad',
              source: { topology: 'nope', nodes: [{ host: 'h', port: 1 }] },
              target: { endpoint: { host: 'h', port: 1 } },
            },
          }),
        ).toBe('BAD_INPUT');

        const report = await ok<{
          runPrecheck: { status: string; results: Array<{ checkId: string; status: string }> };
        }>(
          gw.url,
          'mutation($id: ID!) { runPrecheck(taskId: $id) { status results { checkId status message } } }',
          { id },
        );
        expect(report.runPrecheck.status).toBe('warn');
        expect(
          report.runPrecheck.results.some((r) => r.checkId === 'eviction-policy' && r.status === 'warn'),
        ).toBe(true);
        // warnings not acknowledged: start refused
        expect(await errorCode(gw.url, 'mutation($id: ID!) { startTask(taskId: $id) { id } }', { id })).toBe(
          'PRECHECK_REQUIRED',
        );
        const acked = await ok<{
          acknowledgeWarnings: { warningsAcknowledged: boolean; allowedActions: string[] };
        }>(
          gw.url,
          'mutation($id: ID!) { acknowledgeWarnings(taskId: $id) { warningsAcknowledged allowedActions } }',
          { id },
        );
        expect(acked.acknowledgeWarnings.warningsAcknowledged).toBe(true);
        expect(acked.acknowledgeWarnings.allowedActions).toContain('start');

        const progress = subscribe<{
          taskProgress: {
            state: string;
            phase: string;
            percent: number;
            keysLoaded: number;
            keysTotal: number;
            keysPerSec: number;
            commandsPerSec: number;
            lagBytes: number;
          };
        }>(
          gw.wsUrl,
          'subscription($id: ID!) { taskProgress(taskId: $id) { state phase percent keysLoaded keysTotal etaSeconds keysPerSec commandsPerSec lagBytes lagSeconds at } }',
          { id },
        );
        const events = subscribe<{ taskEvents: { kind: string; message: string } }>(
          gw.wsUrl,
          'subscription($id: ID!) { taskEvents(taskId: $id) { kind message } }',
          { id },
        );
        await new Promise((r) => setTimeout(r, 300)); // subscriptions registered
        const stop = new AbortController();
        const load = writeLoad(source.client(), {
          opsPerSec: 800,
          durationMs: 60_000,
          signal: stop.signal,
          mix: { set: 5, incr: 3, hset: 2, lpush: 2 },
        });
        await ok(gw.url, 'mutation($id: ID!) { startTask(taskId: $id) { id status } }', { id });
        await waitFor(async () => progress.items.some((p) => p.taskProgress.state === 'incremental_sync'), {
          timeoutMs: 60_000,
          what: 'progress to reach incremental_sync',
        });
        // a verification while the task streams and the source is written to: 3 rounds, nothing false
        const during = await ok<{ verifyTask: { id: string; status: string } }>(
          gw.url,
          'mutation($id: ID!) { verifyTask(taskId: $id, mode: "full", rounds: 3) { id status } }',
          { id },
        );
        expect(during.verifyTask.status).toBe('running');
        await new Promise((r) => setTimeout(r, 1500));
        stop.abort();
        expect((await load).errors).toBe(0);
        const VERIFY =
          'query($id: ID!) { task(id: $id) { verifications { id status differences keysChecked counts details error } } }';
        type Runs = {
          task: {
            verifications: Array<{
              id: string;
              status: string;
              differences: number;
              keysChecked: number;
              error?: string;
              details: unknown[];
            }>;
          };
        };
        const finished = async (runId: string): Promise<Runs['task']['verifications'][0]> => {
          let run: Runs['task']['verifications'][0] | undefined;
          await waitFor(
            async () => {
              run = (await ok<Runs>(gw.url, VERIFY, { id })).task.verifications.find((v) => v.id === runId);
              return run && run.status !== 'running';
            },
            { timeoutMs: 60_000, what: 'the verification to end' },
          );
          return run as Runs['task']['verifications'][0];
        };
        const v1 = await finished(during.verifyTask.id);
        expect([v1.status, v1.error, v1.differences], JSON.stringify(v1)).toEqual(['done', null, 0]);
        expect(v1.keysChecked).toBeGreaterThan(2000);
        await waitFor(
          async () => {
            const r = await gql(gw.url, 'mutation($id: ID!) { completeTask(taskId: $id) { status } }', {
              id,
            });
            return !r.errors;
          },
          { timeoutMs: 30_000, what: 'the lag to reach 0 so the task can complete' },
        );
        await waitFor(
          async () =>
            (await ok<{ task: { status: string } }>(gw.url, TASK, { id })).task.status === 'succeeded',
          {
            timeoutMs: 30_000,
            what: 'the task to succeed',
          },
        );
        const states = progress.items.map((p) => p.taskProgress.state);
        // the snapshot's size is known and the stream's rate is measured (not 0) under the write load
        const streaming = progress.items.map((p) => p.taskProgress).filter((p) => p.phase === 'incremental');
        expect(streaming.length).toBeGreaterThan(0);
        expect(Math.max(...streaming.map((p) => p.keysTotal))).toBeGreaterThan(2000);
        expect(Math.max(...streaming.map((p) => p.commandsPerSec))).toBeGreaterThan(0);
        expect(states).toContain('full_sync');
        expect(states).toContain('incremental_sync');
        // a few updates a second at most
        const times = progress.items.length;
        expect(times).toBeGreaterThan(2);
        progress.stop();
        events.stop();
        expect(events.items.map((e) => e.taskEvents.kind)).toContain('state');

        // and after it ended, from storage alone (the task is no longer live)
        const after = await ok<{ verifyTask: { id: string } }>(
          gw.url,
          'mutation($id: ID!) { verifyTask(taskId: $id, rounds: 1) { id } }',
          { id },
        );
        const v2 = await finished(after.verifyTask.id);
        expect([v2.status, v2.differences]).toEqual(['done', 0]);
        expect(
          await errorCode(gw.url, 'mutation($id: ID!) { verifyTask(taskId: $id, mode: "deep") { id } }', {
            id,
          }),
        ).toBe('BAD_INPUT');
        const final = await ok<{ task: Record<string, unknown> }>(gw.url, TASK, { id });
        const diffs = await compareDeployments(source, target, { dbs: [0] });
        expect(formatDifferences(diffs)).toBe('');
        // the password is in no query result, no log line, not in clear in the database
        const shown =
          JSON.stringify(final) +
          JSON.stringify(created) +
          (await gql(gw.url, '{ tasks { items { id source { nodes { host } } } } }')).raw;
        expect(shown).not.toContain(SECRET);
        expect(logLines.length).toBeGreaterThan(5);
        expect(logLines.join('')).not.toContain(SECRET);
        if (storage === 'sqlite')
          expect(readFileSync(join(dataDir, 'ferry.db')).includes(SECRET)).toBe(false);
        // metrics and plugins
        const metrics = await fetch(gw.url.replace('/graphql', '/metrics'), {
          headers: { authorization: 'Bearer test-token' },
        });
        expect(metrics.status).toBe(200);
        const plugins = await ok<{ plugins: Array<{ kind: string; id: string }> }>(
          gw.url,
          '{ plugins { kind id name version } }',
        );
        expect(
          plugins.plugins
            .filter((p) => p.kind === 'source-topology')
            .map((p) => p.id)
            .sort(),
        ).toEqual(['cluster', 'codis', 'file', 'standalone', 'twemproxy']);
      } finally {
        await gw.close();
      }
    });
  }
});
