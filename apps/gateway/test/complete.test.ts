/**
 * completeTask says "succeeded" only after the target was checked against the source: a key another
 * client wrote into the target's migrated db while the task ran makes the completion fail, with the
 * figures, and the task shows as failed (not stuck in "completing").
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { populate, serverScope, waitFor } from '@ferry/testkit';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { startGateway } from '../src/index.js';
import { gql, ok } from './client.js';

const servers = serverScope();
afterAll(() => servers.stop());

const silent = pino({ level: 'silent' }, new Writable({ write: (_c, _e, cb) => cb() }));

describe('completeTask', () => {
  it('fails with the figures when the target holds a key the source does not, and succeeds once it is gone', async () => {
    const gw = await startGateway({
      port: 0,
      dataDir: mkdtempSync(join(tmpdir(), 'ferry-gw-complete-')),
      tokens: ['test-token'],
      logger: silent,
      progressEveryMs: 200,
    });
    try {
      const source = await servers.redis({ label: 'source' });
      const target = await servers.redis({ label: 'target' });
      await populate(source.client(), { randomKeys: 1000 });
      const { createTask } = await ok<{ createTask: { id: string } }>(
        gw.url,
        'mutation($input: CreateTaskInput!) { createTask(input: $input) { id } }',
        {
          input: {
            name: 'checked completion',
            source: { topology: 'standalone', nodes: [{ host: source.host, port: source.port }] },
            target: { endpoint: { host: target.host, port: target.port } },
          },
        },
      );
      const id = createTask.id;
      const status = async (): Promise<{ status: string; error: string | null }> =>
        (
          await ok<{ task: { status: string; error: string | null } }>(
            gw.url,
            'query($id: ID!) { task(id: $id) { status error } }',
            { id },
          )
        ).task;
      await ok(gw.url, 'mutation($id: ID!) { runPrecheck(taskId: $id) { status } }', { id });
      await gql(gw.url, 'mutation($id: ID!) { acknowledgeWarnings(taskId: $id) { id } }', { id });
      await ok(gw.url, 'mutation($id: ID!) { startTask(taskId: $id) { id } }', { id });
      await waitFor(async () => (await status()).status === 'incremental_sync', {
        what: 'streaming',
        timeoutMs: 60_000,
      });
      await target.command('SET', 'intruder', 'not from the source');
      const complete = async (): Promise<void> => {
        await waitFor(
          async () =>
            !(await gql(gw.url, 'mutation($id: ID!) { completeTask(taskId: $id) { status } }', { id }))
              .errors,
          { what: 'the lag to reach 0', timeoutMs: 30_000 },
        );
      };
      await complete();
      await waitFor(async () => (await status()).status === 'failed', {
        what: 'the completion refused',
        timeoutMs: 30_000,
      });
      const failed = await status();
      const m =
        /is not done: the target holds keys the source does not: (\d+) keys on the source, (\d+) on the target/.exec(
          failed.error ?? '',
        );
      expect(m, failed.error ?? '').not.toBeNull();
      expect(Number(m?.[2]) - Number(m?.[1])).toBe(1);
      const { task } = await ok<{ task: { events: { items: Array<{ kind: string; message: string }> } } }>(
        gw.url,
        'query($id: ID!) { task(id: $id) { events(page: { limit: 200 }) { items { kind message } } } }',
        { id },
      );
      expect(task.events.items.some((e) => e.kind === 'checked' && /not done/.test(e.message))).toBe(true);

      // the intruder gone, a retry resumes from the checkpoint and completes, checked
      await target.command('DEL', 'intruder');
      await ok(gw.url, 'mutation($id: ID!) { retryTask(taskId: $id) { id } }', { id });
      await waitFor(async () => (await status()).status === 'incremental_sync', {
        what: 'streaming again',
        timeoutMs: 60_000,
      });
      await complete();
      await waitFor(async () => (await status()).status === 'succeeded', {
        what: 'the task to succeed',
        timeoutMs: 30_000,
      });
      const after = await ok<{ task: { events: { items: Array<{ kind: string; message: string }> } } }>(
        gw.url,
        'query($id: ID!) { task(id: $id) { events(page: { limit: 200 }) { items { kind message } } } }',
        { id },
      );
      expect(
        after.task.events.items.some(
          (e) =>
            e.kind === 'checked' && /checked against both servers: \d+ keys on both sides/.test(e.message),
        ),
      ).toBe(true);
    } finally {
      await gw.close();
    }
  });
});
