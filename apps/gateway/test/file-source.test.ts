/**
 * A backup restored through the gateway: `source: { topology: "file", files }`, its precheck (the
 * file's own check), and a task that finishes by itself once the file is written and checked.
 */
import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { populate, serverScope, waitFor } from '@ferry/testkit';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { startGateway } from '../src/index.js';
import { ok } from './client.js';

const servers = serverScope();
afterAll(() => servers.stop());

const silent = pino({ level: 'silent' }, new Writable({ write: (_c, _e, cb) => cb() }));

describe('a file source through GraphQL', () => {
  it('prechecks the file, restores it and succeeds with the check against the file', async () => {
    const gw = await startGateway({
      port: 0,
      dataDir: mkdtempSync(join(tmpdir(), 'ferry-gw-file-')),
      tokens: ['test-token'],
      logger: silent,
      progressEveryMs: 200,
    });
    try {
      const source = await servers.redis({ label: 'source' });
      const target = await servers.redis({ label: 'target' });
      await populate(source.client(), { randomKeys: 2000 });
      await source.command('SAVE');
      const file = join(mkdtempSync(join(tmpdir(), 'ferry-backup-')), 'dump.rdb');
      copyFileSync(source.rdbPath, file);
      const { createTask } = await ok<{
        createTask: { id: string; source: { topology: string; detail: string } };
      }>(
        gw.url,
        'mutation($input: CreateTaskInput!) { createTask(input: $input) { id source { topology detail } } }',
        {
          input: {
            name: 'restore a backup',
            source: { topology: 'file', files: [file] },
            target: { endpoint: { host: target.host, port: target.port } },
          },
        },
      );
      expect(createTask.source).toEqual({ topology: 'file', detail: file });
      const id = createTask.id;
      const { runPrecheck } = await ok<{
        runPrecheck: { status: string; results: Array<{ checkId: string; status: string; message: string }> };
      }>(
        gw.url,
        'mutation($id: ID!) { runPrecheck(taskId: $id) { status results { checkId status message } } }',
        {
          id,
        },
      );
      const fileCheck = runPrecheck.results.find((r) => r.checkId === 'source-files');
      expect(fileCheck?.status).toBe('pass');
      expect(fileCheck?.message).toMatch(/RDB version \d+, \d+ bytes/);
      expect(runPrecheck.status).not.toBe('fail');
      if (runPrecheck.status === 'warn')
        await ok(gw.url, 'mutation($id: ID!) { acknowledgeWarnings(taskId: $id) { id } }', { id });
      await ok(gw.url, 'mutation($id: ID!) { startTask(taskId: $id) { id } }', { id });
      const status = async (): Promise<{ status: string; error: string | null }> =>
        (
          await ok<{ task: { status: string; error: string | null } }>(
            gw.url,
            'query($id: ID!) { task(id: $id) { status error } }',
            { id },
          )
        ).task;
      await waitFor(async () => ['succeeded', 'failed'].includes((await status()).status), {
        what: 'the restore to finish',
        timeoutMs: 60_000,
      });
      expect(await status()).toEqual({ status: 'succeeded', error: null });
      const { task } = await ok<{ task: { events: { items: Array<{ kind: string; message: string }> } } }>(
        gw.url,
        'query($id: ID!) { task(id: $id) { events(page: { limit: 200 }) { items { kind message } } } }',
        { id },
      );
      const checked = task.events.items.find((e) => e.kind === 'checked');
      expect(checked?.message).toMatch(/keys in the file and on the target/);
      expect(Number(await target.command('DBSIZE'))).toBe(Number(await source.command('DBSIZE')));
    } finally {
      await gw.close();
    }
  });
});
