#!/usr/bin/env node
// pnpm demo: Ferry's main job on this machine through its service, with nothing to configure.
// Starts two throwaway redis-servers on loopback and fills the source (every type and encoding,
// three dbs, TTLs, binary keys); starts the gateway on its embedded SQLite (./data/ferry.db by
// default, FERRY_DATA_DIR to choose); then, over GraphQL, as a console would: creates the task,
// runs the precheck, acknowledges its warnings, starts it while the source takes writes, follows
// `taskProgress` over WebSocket, completes it once the lag is 0, and compares both servers key by
// key with the testkit's independent checker. Exit code 0 means: no difference.
// `pnpm demo --keep` leaves the gateway (and its web console at /) running afterwards (Ctrl-C to stop).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import {
  allocatePort,
  compareDeployments,
  formatDifferences,
  populate,
  startRedis,
  waitFor,
  writeLoad,
} from '../../packages/testkit/dist/index.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const keep = process.argv.includes('--keep');
const say = (m) => console.log(`demo: ${m}`);
const dataDir = resolve(process.env.FERRY_DATA_DIR ?? join(root, 'data'));
const token = process.env.FERRY_DEMO_TOKEN ?? `demo_${randomBytes(12).toString('hex')}`;
const port = await allocatePort();
const source = await startRedis({ label: 'demo-source' });
const target = await startRedis({ label: 'demo-target' });
let gateway;
let code = 1;
const url = `http://127.0.0.1:${port}/graphql`;
async function gql(query, variables = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = await res.json();
  if (body.errors) throw new Error(`${body.errors[0].message} [${body.errors[0].extensions?.code}]`);
  return body.data;
}
try {
  say(`source redis://${source.host}:${source.port}, target redis://${target.host}:${target.port}`);
  const filled = await populate(source.client(), { dbs: [0, 1, 2], randomKeys: 20_000 });
  say(`source filled: ${filled.keys} keys (every type and encoding, TTLs, binary keys) in dbs 0, 1, 2`);

  gateway = spawn(process.execPath, [join(root, 'apps/gateway/dist/main.js'), 'serve'], {
    env: {
      ...process.env,
      FERRY_PORT: String(port),
      FERRY_DATA_DIR: dataDir,
      FERRY_API_TOKENS: token,
      FERRY_LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined))?.ok, {
    what: 'the gateway to answer',
    timeoutMs: 30_000,
  });
  say(`gateway on ${url} (storage: SQLite in ${dataDir}; token in FERRY_API_TOKENS)`);
  say(`web console: http://127.0.0.1:${port}/ (API token ${token}; \`pnpm demo --keep\` leaves it up)`);

  const { createTask } = await gql(
    'mutation($i: CreateTaskInput!) { createTask(input: $i) { id name status } }',
    {
      i: {
        name: 'demo: source → target',
        tags: ['demo'],
        source: { topology: 'standalone', nodes: [{ host: source.host, port: source.port }] },
        target: { endpoint: { host: target.host, port: target.port } },
      },
    },
  );
  const id = createTask.id;
  say(`task ${id} created`);
  const { runPrecheck } = await gql(
    'mutation($id: ID!) { runPrecheck(taskId: $id) { status results { checkId status message } } }',
    { id },
  );
  for (const r of runPrecheck.results.filter((x) => x.status !== 'pass'))
    say(`  precheck ${r.status}: ${r.checkId}: ${r.message}`);
  say(`precheck: ${runPrecheck.status}`);
  if (runPrecheck.status === 'fail') throw new Error('the precheck failed');
  if (runPrecheck.status === 'warn') {
    await gql('mutation($id: ID!) { acknowledgeWarnings(taskId: $id) { id } }', { id });
    say('warnings acknowledged');
  }

  const ws = createClient({
    url: url.replace('http', 'ws'),
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${token}` },
  });
  let last = '';
  const unsubscribe = ws.subscribe(
    {
      query:
        'subscription($id: ID!) { taskProgress(taskId: $id) { state phase percent keysPerSec commandsPerSec lagBytes } }',
      variables: { id },
    },
    {
      next: ({ data }) => {
        const p = data.taskProgress;
        const line = `${p.state} ${p.phase} ${p.percent.toFixed(0)}% ${Math.round(p.keysPerSec)} keys/s ${Math.round(p.commandsPerSec)} cmds/s lag ${p.lagBytes} B`;
        if (line !== last) say(`  progress: ${line}`);
        last = line;
      },
      error: (e) => say(`progress subscription: ${e?.message ?? e}`),
      complete: () => undefined,
    },
  );
  const load = writeLoad(source.client(), { opsPerSec: 2000, durationMs: 4000, dbs: [0, 1, 2] });
  await gql('mutation($id: ID!) { startTask(taskId: $id) { status } }', { id });
  say('task started, while the source takes ~2000 writes/s');
  const loaded = await load;
  say(`the source took ${loaded.ops} writes during the migration`);
  await waitFor(
    async () => {
      try {
        await gql('mutation($id: ID!) { completeTask(taskId: $id) { status } }', { id });
        return true;
      } catch (err) {
        if (/LAGGING|ACTION_NOT_ALLOWED/.test(err.message)) return false;
        throw err;
      }
    },
    { what: 'the task to catch up and complete', timeoutMs: 120_000, intervalMs: 250 },
  );
  await waitFor(
    async () =>
      (await gql('query($id: ID!) { task(id: $id) { status } }', { id })).task.status === 'succeeded',
    {
      what: 'the task to succeed',
      timeoutMs: 60_000,
    },
  );
  unsubscribe();
  await ws.dispose();
  say('task succeeded');
  const diffs = await compareDeployments(source, target, { dbs: [0, 1, 2] });
  if (diffs.length > 0) throw new Error(`the target differs from the source:\n${formatDifferences(diffs)}`);
  say('compared every key of dbs 0, 1, 2 on both servers: no difference');
  code = 0;
} catch (err) {
  console.error(`demo: ${err.message}`);
} finally {
  await Promise.all([source.stop(), target.stop()]);
  if (keep && code === 0) {
    say(
      `the gateway keeps running: web console http://127.0.0.1:${port}/, GraphQL ${url} (API token ${token}); Ctrl-C to stop`,
    );
    await new Promise((r) => gateway.once('exit', r));
  } else if (gateway) {
    gateway.kill('SIGTERM');
    await new Promise((r) => gateway.once('exit', r));
  }
}
process.exit(code);
