// The console in a real Chromium (Debian's, driven by playwright-core) against the built gateway
// process and real redis-servers: the operator's whole walk, with a screenshot of every page in
// apps/console/screenshots/ (kept after the run).
import { mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import {
  compareDeployments,
  formatDifferences,
  populate,
  serverScope,
  waitFor,
  writeLoad,
} from '@ferry/testkit';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gql, http, type RunningGateway, startGatewayProcess, TOKEN } from './gateway.js';

const SHOTS = resolve(process.cwd(), 'screenshots');
const CHROMIUM = process.env.FERRY_CHROMIUM ?? '/usr/bin/chromium';
const SECRET = 'src-pass-e2e-9d1c4b';
const servers = serverScope();
let gw: RunningGateway;
let browser: Browser;
const problems: string[] = [];

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  gw = await startGatewayProcess();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
});
afterAll(async () => {
  await browser?.close();
  await gw?.stop();
  await servers.stop();
});

/** A page that records every console error and uncaught exception (none is allowed). */
async function openPage(width = 1280, height = 800): Promise<Page> {
  const context = await browser.newContext({ viewport: { width, height }, acceptDownloads: true });
  const page = await context.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('response', (r) => {
    if (r.status() >= 400) problems.push(`http ${r.status()} ${r.request().method()} ${r.url()}`);
  });
  return page;
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

async function signIn(page: Page): Promise<void> {
  await page.goto(`${gw.origin}/`);
  await page.getByLabel('API token').fill(TOKEN);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Tasks' }).waitFor();
}

const stateOf = (page: Page) => page.locator('[role="status"][data-state]');
async function waitState(page: Page, state: string, timeoutMs = 60_000): Promise<void> {
  await waitFor(async () => (await stateOf(page).getAttribute('data-state')) === state, {
    what: `the task's state to read ${state}`,
    timeoutMs,
  });
}

describe('the web console', () => {
  it('the first load is small: its JavaScript under 300 KB gzipped', async () => {
    const html = (await http('GET', `${gw.origin}/`)).body;
    const scripts = [...html.matchAll(/<script[^>]+src="([^"]+)"/g)].map((m) => m[1] as string);
    expect(scripts.length).toBeGreaterThan(0);
    let total = 0;
    for (const s of scripts) {
      const file = readFileSync(join(process.cwd(), 'dist', s));
      total += gzipSync(file).length;
    }
    expect(total).toBeLessThan(300 * 1024);
  });

  it('sign in → create standalone → cluster → test connectivity → precheck warning → acknowledge → start under load → Done → verify → alarms', async () => {
    const source = await servers.redis({ label: 'console-src', password: SECRET });
    await populate(source.client(), { randomKeys: 2000 });
    // a warning the user must acknowledge: the target may evict
    const target = await servers.cluster({ masters: 3, config: { 'maxmemory-policy': 'allkeys-lru' } });
    const seed = target.seeds[0] as { host: string; port: number };
    const page = await openPage();

    // sign in, by keyboard alone; a wrong token first
    await page.goto(`${gw.origin}/`);
    await shot(page, '01-sign-in');
    await page.keyboard.press('Tab');
    await page.keyboard.type('wrong-token');
    await page.keyboard.press('Enter');
    await page.getByRole('alert').filter({ hasText: 'refused this token' }).waitFor();
    await page.getByLabel('API token').focus();
    await page.keyboard.type(TOKEN);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Tasks' }).waitFor();
    expect(page.url()).not.toContain(TOKEN);
    await shot(page, '02-tasks-empty');

    // the wizard
    await page.getByRole('button', { name: 'Create task' }).click();
    await page.getByLabel('Task name').fill('orders → cluster');
    await page.getByLabel('Tags').fill('e2e, orders');
    await page.getByRole('button', { name: 'Next' }).click();
    await page.getByLabel('Source nodes').fill(`${source.host}:${source.port}:${SECRET}`);
    await page.getByRole('button', { name: 'Test connectivity' }).click();
    await page
      .getByRole('list', { name: 'Source connectivity' })
      .getByText(/ok — reachable and authenticated/)
      .waitFor();
    await shot(page, '03-create-source');
    await page.getByRole('button', { name: 'Next' }).click();
    await page.getByLabel('Target nodes').fill(`${seed.host}:${seed.port}`);
    await page.getByLabel('Target is a cluster').check();
    await page.getByRole('button', { name: 'Test connectivity' }).click();
    await page
      .getByRole('list', { name: 'Target connectivity' })
      .getByText(/ok — reachable/)
      .waitFor();
    await shot(page, '04-create-target');
    await page.getByRole('button', { name: 'Next' }).click();
    await page.getByLabel('Key filters').fill('**[[');
    await page.getByText('the [ at 3 is never closed').waitFor();
    await page.getByLabel('Key filters').fill('');
    await shot(page, '05-create-options');
    await page.getByRole('button', { name: 'Save' }).click();

    // the precheck: a warning, Start disabled until acknowledged
    await page.getByRole('heading', { name: /^Precheck/ }).waitFor();
    const id = decodeURIComponent(
      (/\/tasks\/([^/]+)\/precheck$/.exec(page.url()) as RegExpExecArray)[1] as string,
    );
    // the password typed in the wizard is in the DOM no more
    expect(await page.content()).not.toContain(SECRET);
    await page.getByRole('button', { name: 'Run precheck' }).click();
    await page.getByRole('heading', { name: /^Warnings/ }).waitFor();
    expect(await page.getByRole('button', { name: 'Start', exact: true }).isDisabled()).toBe(true);
    await shot(page, '06-precheck-warnings');
    await page.getByRole('button', { name: 'Acknowledge warnings' }).click();
    await waitFor(async () => page.getByRole('button', { name: 'Start', exact: true }).isEnabled(), {
      what: 'Start to be enabled after the acknowledgement',
    });

    // start under a write load, and watch it reach incremental_sync live
    const stop = new AbortController();
    const load = writeLoad(source.client(), {
      opsPerSec: 500,
      durationMs: 120_000,
      signal: stop.signal,
      mix: { set: 5, incr: 3, hset: 2, lpush: 2 },
    });
    try {
      await page.getByRole('button', { name: 'Start', exact: true }).click();
      await page.getByRole('heading', { name: 'orders → cluster' }).waitFor();
      await waitState(page, 'incremental_sync');
      await page.getByText('Commands/s', { exact: true }).waitFor();
      await shot(page, '07-task-detail-streaming');

      // pause and resume
      await page.getByRole('button', { name: 'Pause', exact: true }).click();
      await waitState(page, 'paused');
      await page.getByRole('button', { name: 'Resume', exact: true }).click();
      await waitState(page, 'incremental_sync');
      // the rate limit, changed live
      await page.getByLabel('Keys per second (0: none)').fill('100000');
      await page.getByRole('button', { name: 'Apply rate limit' }).click();
      await page.getByText('Rate limit now 100000 keys/s').waitFor();
    } finally {
      stop.abort();
      expect((await load).errors).toBe(0);
    }

    // Done: refused while lagging (the reason is shown), accepted once the lag is 0
    await waitFor(
      async () => {
        const state = await stateOf(page).getAttribute('data-state');
        if (state === 'succeeded') return true;
        const done = page.getByRole('button', { name: 'Done', exact: true });
        if (state === 'incremental_sync' && (await done.isEnabled().catch(() => false))) await done.click();
        return false;
      },
      { what: 'the task to succeed after Done', timeoutMs: 60_000, intervalMs: 1000 },
    );
    await page
      .getByText(/checked against both servers/)
      .first()
      .waitFor();
    await shot(page, '08-task-detail-succeeded');
    expect(formatDifferences(await compareDeployments(source, target, { dbs: [0] }))).toBe('');

    // one key changed on the target: the verification names it
    const cluster = target.client();
    await cluster.set('ferry-e2e:changed', 'on-source');
    await source.client().set('ferry-e2e:changed', 'on-source');
    await cluster.set('ferry-e2e:changed', 'changed-on-target');
    await cluster.quit();
    await page.getByRole('button', { name: 'Verify…' }).click();
    await page.getByRole('heading', { name: /^Verify/ }).waitFor();
    await page.getByLabel('Rounds').fill('1');
    await page.getByRole('button', { name: 'Verify', exact: true }).click();
    const table = page.getByRole('table', { name: 'Differences' });
    await table.waitFor({ timeout: 60_000 });
    expect(await table.textContent()).toContain('ferry-e2e:changed');
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Download CSV' }).click(),
    ]);
    const csv = readFileSync((await download.path()) as string, 'utf8');
    expect(csv, csv).toMatch(/"different","(length|value)","0","ferry-e2e:changed","0","ferry-e2e:changed"/);
    await shot(page, '09-verify-report');

    // alarms: create (the webhook is write-only), list, delete
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Alarms' }).click();
    await page.getByRole('heading', { name: 'Alarms' }).waitFor();
    await page.getByLabel('Kind').selectOption('lag');
    await page.getByLabel('Lag above (seconds)').fill('5');
    await page.getByLabel('For (seconds)').fill('10');
    await page.getByLabel('Webhook URL').fill('http://127.0.0.1:9/hook?token=hook-secret-1');
    await page.getByRole('button', { name: 'Add alarm rule' }).click();
    await page.getByRole('cell', { name: '127.0.0.1:9' }).waitFor();
    expect(await page.content()).not.toContain('hook-secret-1');
    await shot(page, '10-alarms');
    await page.getByRole('button', { name: /^Delete alarm rule/ }).click();
    await page.getByText('No alarm rule yet.').waitFor();

    // the tasks list shows the task with exactly its allowed actions
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Tasks' }).click();
    await page.getByRole('link', { name: 'orders → cluster' }).waitFor();
    const allowed = (
      await gql<{ task: { allowedActions: string[] } }>(
        gw,
        'query($id: ID!) { task(id: $id) { allowedActions } }',
        { id },
      )
    ).task.allowedActions;
    expect(allowed).toEqual(['clone', 'delete']);
    const row = page.getByRole('row').filter({ hasText: 'orders → cluster' });
    expect(await row.getByRole('button').allTextContents()).toEqual(['Clone', 'Delete']);
    await shot(page, '11-tasks');
    expect(await page.content()).not.toContain(SECRET);

    // a phone's width: readable, nothing wider than the screen but the tables' own scroll
    const phone = await openPage(390, 844);
    await signIn(phone);
    await shot(phone, '12-phone-tasks');
    await phone.goto(`${gw.origin}/tasks/${encodeURIComponent(id)}`);
    await waitState(phone, 'succeeded');
    await shot(phone, '13-phone-task-detail');
    expect(await phone.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    expect(problems).toEqual([]);
  });

  it('a failing precheck keeps Start disabled, and says why', async () => {
    const source = await servers.redis({ label: 'console-src-2' });
    // the target: a port where nothing listens
    const { createTask } = await gql<{ createTask: { id: string } }>(
      gw,
      'mutation($i: CreateTaskInput!) { createTask(input: $i) { id } }',
      {
        i: {
          name: 'to nowhere',
          source: { topology: 'standalone', nodes: [{ host: source.host, port: source.port }] },
          target: { endpoint: { host: '127.0.0.1', port: 1 } },
        },
      },
    );
    const page = await openPage();
    await signIn(page);
    await page.goto(`${gw.origin}/tasks/${encodeURIComponent(createTask.id)}/precheck`);
    await page.getByRole('button', { name: 'Run precheck' }).click();
    await page.getByRole('heading', { name: /^Failed/ }).waitFor({ timeout: 60_000 });
    expect(await page.getByRole('button', { name: 'Start', exact: true }).isDisabled()).toBe(true);
    await page.getByText('Start stays disabled while a check fails').waitFor();
    await shot(page, '14-precheck-failed');

    // its row shows exactly its allowed actions; Edit changes name and options, and sends it back
    // to its precheck
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Tasks' }).click();
    const row = page.getByRole('row').filter({ hasText: 'to nowhere' });
    await row.waitFor();
    const { task } = await gql<{ task: { allowedActions: string[] } }>(
      gw,
      'query($id: ID!) { task(id: $id) { allowedActions } }',
      { id: createTask.id },
    );
    const LABEL: Record<string, string> = {
      precheck: 'Run precheck',
      start: 'Start',
      clone: 'Clone',
      delete: 'Delete',
      update: 'Edit',
    };
    expect(await row.getByRole('button').allTextContents()).toEqual(
      task.allowedActions.map((a) => LABEL[a] ?? a),
    );
    await row.getByRole('button', { name: 'Edit to nowhere' }).click();
    await page.getByRole('heading', { name: 'Edit: to nowhere' }).waitFor();
    await page.getByLabel('Task name').fill('to nowhere (edited)');
    await page.getByLabel('Key filters').fill('prefix:user:\n!glob:user:tmp:*');
    await page.getByLabel('Db map').fill('0=0+src:');
    await shot(page, '15-edit-task');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('heading', { name: 'Precheck: to nowhere (edited)' }).waitFor();
    const edited = await gql<{ task: { status: string; options: unknown } }>(
      gw,
      'query($id: ID!) { task(id: $id) { status options { dbMap { source db prefix } filter { include { prefix } exclude { glob } } } } }',
      { id: createTask.id },
    );
    expect(edited.task).toEqual({
      status: 'created',
      options: {
        dbMap: [{ source: '0', db: 0, prefix: 'src:' }],
        filter: { include: [{ prefix: 'user:' }], exclude: [{ glob: 'user:tmp:*' }] },
      },
    });
    expect(problems).toEqual([]);
  });

  it('Done is refused while the target lags, with the reason; a forced completion only after a confirmation', async () => {
    const source = await servers.redis({ label: 'console-src-3' });
    const target = await servers.redis({ label: 'console-tgt-3' });
    await populate(source.client(), { randomKeys: 500 });
    const { createTask } = await gql<{ createTask: { id: string } }>(
      gw,
      'mutation($i: CreateTaskInput!) { createTask(input: $i) { id } }',
      {
        i: {
          name: 'lagging',
          source: { topology: 'standalone', nodes: [{ host: source.host, port: source.port }] },
          target: { endpoint: { host: target.host, port: target.port } },
        },
      },
    );
    const id = createTask.id;
    const report = await gql<{ runPrecheck: { status: string } }>(
      gw,
      'mutation($id: ID!) { runPrecheck(taskId: $id) { status } }',
      { id },
    );
    if (report.runPrecheck.status === 'warn')
      await gql(gw, 'mutation($id: ID!) { acknowledgeWarnings(taskId: $id) { id } }', { id });
    await gql(gw, 'mutation($id: ID!) { startTask(taskId: $id) { id } }', { id });
    const page = await openPage();
    await signIn(page);
    await page.goto(`${gw.origin}/tasks/${encodeURIComponent(id)}`);
    await waitState(page, 'incremental_sync');
    // the target stops taking writes while the source takes some: the task falls behind
    const t = target.client();
    await t.call('CLIENT', 'PAUSE', '60000', 'WRITE');
    const src = source.client();
    for (let i = 0; i < 200; i++) await src.set(`late:${i}`, 'x'.repeat(100));
    await waitFor(
      async () =>
        (
          await gql<{ task: { lagBytes: number } }>(gw, 'query($id: ID!) { task(id: $id) { lagBytes } }', {
            id,
          })
        ).task.lagBytes > 0,
      { what: 'the task to lag' },
    );
    await page.getByRole('button', { name: 'Done', exact: true }).click();
    await page
      .getByRole('alert')
      .filter({ hasText: /LAGGING/ })
      .waitFor();
    await page.getByText('Done is refused while the target is behind the source').waitFor();
    expect(await stateOf(page).getAttribute('data-state')).toBe('incremental_sync');
    await page.getByRole('button', { name: 'Force completion…' }).click();
    const dialog = page.getByRole('alertdialog');
    await dialog.waitFor();
    await shot(page, '16-force-completion');
    await dialog.getByRole('button', { name: 'Confirm forced completion' }).click();
    await t.call('CLIENT', 'UNPAUSE');
    await waitState(page, 'succeeded');
    // what the completion checked (or found) is said on the timeline
    await page
      .getByText(/checked against both servers|forced completion, and the check found/)
      .first()
      .waitFor();
    t.disconnect();
    src.disconnect();
    expect(problems).toEqual([]);
  });

  it("a plugin's source topology gets a form from its options schema: required fields, the task created with them", async () => {
    // a gateway of its own, with the example Sentinel topology and persistence check loaded by name
    const withPlugins = await startGatewayProcess({
      FERRY_PLUGINS: '@ferry/example-source-sentinel,@ferry/example-check-target-persistence',
    });
    try {
      const primary = await servers.redis({ label: 'console-sentinel-primary' });
      const sentinel = await servers.redis({
        label: 'console-sentinel',
        sentinel: { name: 'orders', master: primary.endpoint },
      });
      const target = await servers.redis({ label: 'console-sentinel-target' });
      const page = await openPage();
      await page.goto(`${withPlugins.origin}/`);
      await page.getByLabel('API token').fill(TOKEN);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('heading', { name: 'Tasks' }).waitFor();
      await page.getByRole('button', { name: 'Create task' }).click();
      await page.getByLabel('Task name').fill('via sentinel');
      await page.getByRole('button', { name: 'Next' }).click();
      await page.getByLabel('Source topology').selectOption('sentinel');
      // the form the schema describes: its own fields, no node list (the topology does not take one)
      await page.getByLabel('sentinels').waitFor();
      expect(await page.getByLabel('Source nodes').count()).toBe(0);
      expect(await page.getByLabel('sentinelPassword').getAttribute('type')).toBe('password');
      await page.getByLabel('masterName').fill('orders');
      await page.getByLabel('watchIntervalMs').fill('fast');
      await page.getByRole('button', { name: 'Next' }).click();
      await page.getByLabel('Target nodes').fill(`${target.host}:${target.port}`);
      await page.getByRole('button', { name: 'Next' }).click();
      await page.getByRole('button', { name: 'Save' }).click();
      // blocked, sent back to the source step with the first problem
      await page.getByText(/Fix this first: sentinels is needed/).waitFor();
      await page.getByLabel('sentinels').fill(`${sentinel.host}:${sentinel.port}`);
      await page.getByText('watchIntervalMs must be a whole number').waitFor();
      await page.getByLabel('watchIntervalMs').fill('500');
      await shot(page, '16-create-plugin-topology');
      await page.getByRole('button', { name: 'Next' }).click();
      await page.getByRole('button', { name: 'Next' }).click();
      await page.getByRole('button', { name: 'Save' }).click();
      await page.getByRole('heading', { name: /^Precheck/ }).waitFor();
      const id = decodeURIComponent(
        (/\/tasks\/([^/]+)\/precheck$/.exec(page.url()) as RegExpExecArray)[1] as string,
      );
      const { task } = await gql<{ task: { source: { topology: string; detail: string } } }>(
        withPlugins,
        'query($id: ID!) { task(id: $id) { source { topology detail } } }',
        { id },
      );
      expect(task.source).toEqual({
        topology: 'sentinel',
        detail: `${sentinel.host}:${sentinel.port} orders`,
      });
      await page.getByRole('button', { name: 'Run precheck' }).click();
      await page
        .getByText(/target-persistence/)
        .first()
        .waitFor({ timeout: 60_000 });
      await page
        .getByText(/persists nothing/)
        .first()
        .waitFor();
      expect(problems).toEqual([]);
    } finally {
      await withPlugins.stop();
    }
  });
});
