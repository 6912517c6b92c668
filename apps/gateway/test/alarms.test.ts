import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serverScope, waitFor, writeLoad } from '@ferry/testkit';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { startGateway } from '../src/index.js';
import { errorCode, ok } from './client.js';

const servers = serverScope();
afterAll(() => servers.stop());

describe('alarms', () => {
  it('a lag alarm fires to a webhook while the target is paused (CLIENT PAUSE) and clears when it resumes; deliveries are retried', async () => {
    // the webhook receiver: refuses the first POST (a retry must follow), then records them
    const received: Array<Record<string, unknown>> = [];
    let calls = 0;
    const hook = createServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        calls++;
        if (calls === 1) {
          res.writeHead(503).end();
          return;
        }
        received.push(JSON.parse(body) as Record<string, unknown>);
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
    const hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/ferry?token=s3cret`;
    const gw = await startGateway({
      port: 0,
      dataDir: mkdtempSync(join(tmpdir(), 'ferry-gw-alarm-')),
      tokens: ['test-token'],
      logger: pino({ level: 'silent' }),
      alarmEveryMs: 250,
    });
    try {
      const source = await servers.redis({ label: 'alarm-src' });
      const target = await servers.redis({ label: 'alarm-dst' });
      const { createTask } = await ok<{ createTask: { id: string } }>(
        gw.url,
        'mutation($i: CreateTaskInput!) { createTask(input: $i) { id } }',
        {
          i: {
            name: 'alarmed',
            source: { topology: 'standalone', nodes: [source.endpoint] },
            target: { endpoint: target.endpoint },
          },
        },
      );
      const id = createTask.id;
      expect(
        await errorCode(gw.url, 'mutation($i: AlarmRuleInput!) { createAlarmRule(input: $i) { id } }', {
          i: { kind: 'nope', webhook: hookUrl },
        }),
      ).toBe('BAD_INPUT');
      await ok(gw.url, 'mutation($i: AlarmRuleInput!) { createAlarmRule(input: $i) { id kind } }', {
        i: { taskId: id, kind: 'lag', threshold: 1, forSeconds: 1, webhook: hookUrl },
      });
      await ok(gw.url, 'mutation($i: AlarmRuleInput!) { createAlarmRule(input: $i) { id kind } }', {
        i: { kind: 'task_failed', webhook: hookUrl },
      });
      const pre = await ok<{ runPrecheck: { status: string } }>(
        gw.url,
        'mutation($id: ID!) { runPrecheck(taskId: $id) { status } }',
        { id },
      );
      if (pre.runPrecheck.status === 'warn')
        await ok(gw.url, 'mutation($id: ID!) { acknowledgeWarnings(taskId: $id) { id } }', { id });
      await ok(gw.url, 'mutation($id: ID!) { startTask(taskId: $id) { id } }', { id });
      await waitFor(
        async () =>
          (
            await ok<{ task: { status: string } }>(gw.url, 'query($id: ID!) { task(id: $id) { status } }', {
              id,
            })
          ).task.status === 'incremental_sync',
        {
          timeoutMs: 30_000,
          what: 'incremental sync',
        },
      );
      const stop = new AbortController();
      const load = writeLoad(source.client(), {
        opsPerSec: 500,
        durationMs: 60_000,
        signal: stop.signal,
        mix: { set: 1 },
      });
      await new Promise((r) => setTimeout(r, 2000));
      expect(received).toEqual([]); // writes flowing, nothing behind for long: no alarm
      // the target stops taking writes: Ferry falls behind
      await target.client().call('CLIENT', 'PAUSE', '6000', 'WRITE');
      await waitFor(async () => received.some((r) => r.state === 'firing'), {
        timeoutMs: 20_000,
        what: 'the lag alarm to fire',
      });
      const firing = received.find((r) => r.state === 'firing') as {
        alarm: string;
        taskId: string;
        figures: { lagSeconds: number };
      };
      expect([firing.alarm, firing.taskId]).toEqual(['lag', id]);
      expect(firing.figures.lagSeconds).toBeGreaterThan(1);
      expect(calls).toBeGreaterThanOrEqual(2); // the refused first delivery was retried
      await target.client().call('CLIENT', 'UNPAUSE');
      await waitFor(async () => received.some((r) => r.state === 'resolved'), {
        timeoutMs: 20_000,
        what: 'the alarm to clear',
      });
      // the replication link cut on the source: an interruption alarm (the task retries and goes on)
      await source.client().call('CLIENT', 'KILL', 'TYPE', 'replica');
      await waitFor(
        async () => received.some((r) => r.alarm === 'task-failed' && /interrupted/.test(String(r.message))),
        {
          timeoutMs: 20_000,
          what: 'the interruption alarm',
        },
      );
      await waitFor(
        async () =>
          (
            await ok<{ task: { status: string } }>(gw.url, 'query($id: ID!) { task(id: $id) { status } }', {
              id,
            })
          ).task.status === 'incremental_sync',
        { timeoutMs: 30_000, what: 'the task to stream again' },
      );
      stop.abort();
      await load;
      const events = await ok<{ task: { events: { items: Array<{ kind: string; message: string }> } } }>(
        gw.url,
        'query($id: ID!) { task(id: $id) { events(page: { limit: 1000 }) { items { kind message } } } }',
        { id },
      );
      const alarmEvents = events.task.events.items.filter((e) => e.kind === 'alarm').map((e) => e.message);
      expect(
        alarmEvents.some((m) =>
          /lag alarm firing: .* \(delivered to 127\.0\.0\.1:\d+ after 2 attempts\)/.test(m),
        ),
        alarmEvents.join('\n'),
      ).toBe(true);
      expect(alarmEvents.some((m) => /lag alarm resolved/.test(m))).toBe(true);
      // the webhook URL (it carries a token) is stored encrypted and shown nowhere
      expect(JSON.stringify(events)).not.toContain('s3cret');
      // the rules are listed (the webhook's host only) with their deliveries, and deleted
      type Rules = {
        alarmRules: Array<{ id: string; kind: string; taskId: string | null; webhookHost: string }>;
        alarmDeliveries: Array<{ ruleId: string; state: string; delivered: boolean; attempts: number }>;
      };
      const listed = await ok<Rules>(
        gw.url,
        'query($id: ID!) { alarmRules(taskId: $id) { id kind taskId webhookHost } alarmDeliveries(taskId: $id) { ruleId state delivered attempts } }',
        { id },
      );
      expect(listed.alarmRules.map((r) => [r.kind, r.taskId]).sort()).toEqual([
        ['lag', id],
        ['task_failed', null],
      ]);
      expect(listed.alarmRules[0]?.webhookHost).toMatch(/^127\.0\.0\.1:\d+$/);
      expect(JSON.stringify(listed)).not.toContain('s3cret');
      const lagRule = listed.alarmRules.find((r) => r.kind === 'lag');
      expect(
        listed.alarmDeliveries.some((d) => d.ruleId === lagRule?.id && d.state === 'resolved' && d.delivered),
      ).toBe(true);
      await ok(gw.url, 'mutation($r: ID!) { deleteAlarmRule(id: $r) }', { r: lagRule?.id });
      expect(
        await errorCode(gw.url, 'mutation($r: ID!) { deleteAlarmRule(id: $r) }', { r: lagRule?.id }),
      ).toBe('NOT_FOUND');
      const after = await ok<Rules>(
        gw.url,
        '{ alarmRules { id kind taskId webhookHost } alarmDeliveries { ruleId state delivered attempts } }',
      );
      expect(after.alarmRules.map((r) => r.kind)).toEqual(['task_failed']);
      expect(after.alarmDeliveries.some((d) => d.ruleId === lagRule?.id)).toBe(false);
      await ok(gw.url, 'mutation($id: ID!) { completeTask(taskId: $id, force: true) { id } }', { id });
    } finally {
      await gw.close();
      hook.close();
    }
  });
});
