import { mkdtempSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { allocatePort, type ManagedProcess, spawnManaged, waitFor } from '@ferry/testkit';

export const TOKEN = 'console-test-token';
// the tests run in apps/console (vitest's root); happy-dom's URL class cannot read file: URLs
const root = resolve(process.cwd(), '../..');

export interface RunningGateway {
  origin: string;
  url: string;
  log: string;
  stop(): Promise<void>;
}

/**
 * The built gateway as a user runs it (`node apps/gateway/dist/main.js serve`), on its embedded
 * SQLite in a fresh folder, serving the built console from apps/console/dist.
 */
export async function startGatewayProcess(env: Record<string, string> = {}): Promise<RunningGateway> {
  const port = await allocatePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'ferry-console-'));
  const log = join(dataDir, 'gateway.log');
  const proc: ManagedProcess = spawnManaged(
    process.execPath,
    [join(root, 'apps/gateway/dist/main.js'), 'serve'],
    {
      label: 'console-gateway',
      outputFile: log,
      env: {
        ...process.env,
        FERRY_PORT: String(port),
        FERRY_DATA_DIR: dataDir,
        FERRY_API_TOKENS: TOKEN,
        FERRY_CONSOLE_DIR: join(root, 'apps/console/dist'),
        FERRY_LOG_LEVEL: 'warn',
        ...env,
      },
      // plugins (FERRY_PLUGINS) are found from where the gateway runs, as for a user
      cwd: root,
    },
  );
  const origin = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await http('GET', `${origin}/healthz`).catch(() => undefined))?.status === 200, {
    what: 'the gateway to answer /healthz',
    timeoutMs: 30_000,
  });
  return { origin, url: `${origin}/graphql`, log, stop: () => proc.stop('SIGTERM', 5000) };
}

/** One GraphQL request with the test token; throws on errors. */
export async function gql<T>(
  g: RunningGateway,
  query: string,
  variables: Record<string, unknown> = {},
): Promise<T> {
  const res = await http('POST', g.url, JSON.stringify({ query, variables }));
  const body = JSON.parse(res.body) as { data?: T; errors?: Array<{ message: string }> };
  if (body.errors?.length) throw new Error(body.errors[0]?.message);
  return body.data as T;
}

/** Node's own HTTP client (in happy-dom's files the global fetch is the page's, with its CORS rules). */
export function http(method: string, url: string, body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
