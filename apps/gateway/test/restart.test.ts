import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  allocatePort,
  compareDeployments,
  formatDifferences,
  populate,
  serverScope,
  waitFor,
  writeLoad,
} from '@ferry/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { ok } from './client.js';

const main = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'main.js');
const servers = serverScope();
const children: ChildProcess[] = [];
afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  await servers.stop();
});

/** The built gateway as its own process (so it can be SIGKILLed), on the embedded SQLite. */
async function gateway(
  dataDir: string,
  port: number,
): Promise<{ child: ChildProcess; url: string; log: () => string }> {
  let log = '';
  const child = spawn(process.execPath, [main, 'serve'], {
    env: {
      ...process.env,
      FERRY_PORT: String(port),
      FERRY_DATA_DIR: dataDir,
      FERRY_API_TOKENS: 'test-token',
      FERRY_LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  child.stdout?.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (log += d.toString()));
  const url = `http://127.0.0.1:${port}/graphql`;
  await waitFor(async () => (await fetch(url.replace('/graphql', '/healthz')).catch(() => undefined))?.ok, {
    timeoutMs: 30_000,
    what: `the gateway on ${port} (log: ${log.slice(-500)})`,
  });
  return { child, url, log: () => log };
}

const STATUS =
  'query($id: ID!) { task(id: $id) { status events(page: { limit: 1000 }) { items { kind message at } } } }';

async function prepared(
  url: string,
  name: string,
  source: { host: string; port: number },
  target: { host: string; port: number },
): Promise<string> {
  const { createTask } = await ok<{ createTask: { id: string } }>(
    url,
    'mutation($i: CreateTaskInput!) { createTask(input: $i) { id } }',
    {
      i: { name, source: { topology: 'standalone', nodes: [source] }, target: { endpoint: target } },
    },
  );
  const { runPrecheck } = await ok<{ runPrecheck: { status: string } }>(
    url,
    'mutation($id: ID!) { runPrecheck(taskId: $id) { status } }',
    { id: createTask.id },
  );
  if (runPrecheck.status === 'fail') throw new Error(`precheck failed for ${name}`);
  if (runPrecheck.status === 'warn')
    await ok(url, 'mutation($id: ID!) { acknowledgeWarnings(taskId: $id) { id } }', { id: createTask.id });
  return createTask.id;
}

describe('gateway restarts', () => {
  it('a running task resumes with +CONTINUE after SIGKILL; a task scheduled 3 s ahead starts after a restart before its time', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ferry-gw-restart-'));
    const port = await allocatePort();
    // a token made with `ferry-gateway token create` (stored hashed) is accepted beside FERRY_API_TOKENS
    const made = await new Promise<string>((resolve, reject) => {
      execFile(
        process.execPath,
        [main, 'token', 'create', 'ops'],
        { env: { ...process.env, FERRY_DATA_DIR: dataDir } },
        (err, out) => (err ? reject(err) : resolve(out.trim())),
      );
    });
    let gw = await gateway(dataDir, port);
    const probe = (token: string): Promise<number> =>
      fetch(gw.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ query: '{ tasks { total } }' }),
      }).then((r) => r.status);
    expect(await probe(made)).toBe(200);
    expect(await probe(`${made}x`)).toBe(401);
    const source = await servers.redis({ label: 'gw-rs-src' });
    const target = await servers.redis({ label: 'gw-rs-dst' });
    const source2 = await servers.redis({ label: 'gw-rs-src2' });
    const target2 = await servers.redis({ label: 'gw-rs-dst2' });
    await populate(source.client(), { randomKeys: 2000 });
    await populate(source2.client(), { randomKeys: 500, catalogue: false });
    const id = await prepared(gw.url, 'running one', source.endpoint, target.endpoint);
    const stop = new AbortController();
    const load = writeLoad(source.client(), { opsPerSec: 800, durationMs: 120_000, signal: stop.signal });
    await ok(gw.url, 'mutation($id: ID!) { startTask(taskId: $id) { id } }', { id });
    await waitFor(
      async () =>
        (await ok<{ task: { status: string } }>(gw.url, STATUS, { id })).task.status === 'incremental_sync',
      {
        timeoutMs: 60_000,
        what: 'incremental sync',
      },
    );
    await new Promise((r) => setTimeout(r, 1500)); // a checkpoint or two in storage
    const later = await prepared(gw.url, 'scheduled one', source2.endpoint, target2.endpoint);
    const at = new Date(Date.now() + 3000);
    await ok(
      gw.url,
      'mutation($id: ID!, $at: DateTimeISO!) { scheduleTask(taskId: $id, at: $at) { status } }',
      { id: later, at: at.toISOString() },
    );

    gw.child.kill('SIGKILL');
    await new Promise((r) => gw.child.once('exit', r));
    expect(Date.now()).toBeLessThan(at.getTime()); // the restart happens before the scheduled time
    gw = await gateway(dataDir, port);

    // the running task resumed from its checkpoint: its shard continued the same history
    await waitFor(
      async () => {
        const t = (
          await ok<{ task: { status: string; events: { items: Array<{ kind: string; message: string }> } } }>(
            gw.url,
            STATUS,
            { id },
          )
        ).task;
        return (
          t.events.items.filter((e) => e.kind === 'shard-start').length >= 2 &&
          t.status === 'incremental_sync'
        );
      },
      { timeoutMs: 60_000, what: `the task to resume (log: ${gw.log().slice(-800)})` },
    );
    const events = (
      await ok<{ task: { events: { items: Array<{ kind: string; message: string }> } } }>(gw.url, STATUS, {
        id,
      })
    ).task.events.items;
    const starts = events.filter((e) => e.kind === 'shard-start').map((e) => e.message);
    expect(starts[0]).toMatch(/full sync/);
    expect(
      starts.slice(1).every((m) => /continue sync/.test(m)),
      starts.join(' | '),
    ).toBe(true);
    expect(events.some((e) => e.kind === 'resume')).toBe(true);

    // the scheduled one started on time, after the restart
    await waitFor(
      async () =>
        (await ok<{ task: { status: string } }>(gw.url, STATUS, { id: later })).task.status ===
        'incremental_sync',
      {
        timeoutMs: 30_000,
        what: 'the scheduled task to start',
      },
    );
    const evs = (
      await ok<{ task: { events: { items: Array<{ kind: string; message: string; at: string }> } } }>(
        gw.url,
        STATUS,
        { id: later },
      )
    ).task.events.items;
    const preparing = evs.find((e) => e.kind === 'state' && /→ preparing/.test(e.message));
    expect(evs.some((e) => e.kind === 'scheduled')).toBe(true);
    // not before its time (the clock of this machine: a few ms of slack for the timer)
    expect(new Date(preparing?.at ?? 0).getTime()).toBeGreaterThanOrEqual(at.getTime() - 50);

    stop.abort();
    expect((await load).errors).toBe(0);
    for (const t of [id, later]) {
      await waitFor(
        async () => {
          const r = await fetch(gw.url, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: 'Bearer test-token' },
            body: JSON.stringify({
              query: 'mutation($id: ID!) { completeTask(taskId: $id) { status } }',
              variables: { id: t },
            }),
          });
          return !((await r.json()) as { errors?: unknown }).errors;
        },
        { timeoutMs: 30_000, what: 'completion' },
      );
      await waitFor(
        async () =>
          (await ok<{ task: { status: string } }>(gw.url, STATUS, { id: t })).task.status === 'succeeded',
        {
          timeoutMs: 30_000,
          what: 'success',
        },
      );
    }
    expect(formatDifferences(await compareDeployments(source, target, { dbs: [0] }))).toBe('');
    expect(formatDifferences(await compareDeployments(source2, target2, { dbs: [0] }))).toBe('');
    gw.child.kill('SIGTERM');
  });
});
