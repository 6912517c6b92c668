import 'reflect-metadata';
import { createHash, timingSafeEqual } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname } from 'node:path';
import { ApolloServer, HeaderMap } from '@apollo/server';
import type { FerryPlugin } from '@ferry/core';
import { Storage, type StorageOptions } from '@ferry/storage';
import { type GraphQLSchema, printSchema, specifiedRules, validate } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import pino, { type Logger } from 'pino';
import { Gauge, Registry } from 'prom-client';
import { buildSchema } from 'type-graphql';
import { WebSocketServer } from 'ws';
import { Alarms } from './alarms.js';
import { MAX_BODY_BYTES, queryLimitsRule } from './limits.js';
import { type Context, LiveResolver, TaskResolver } from './schema/resolvers.js';
import { defineSourceOptions } from './schema/source-options.js';
import { FerryService, sourcePlugins } from './service.js';
import { defaultConsoleDir, serveConsole } from './static.js';

/** The schema, with an options input for each of these source topologies (see source-options.ts). */
export function buildFerrySchema(plugins: FerryPlugin[] = sourcePlugins()): Promise<GraphQLSchema> {
  defineSourceOptions(plugins);
  return buildSchema({
    resolvers: [TaskResolver, LiveResolver],
    validate: false,
    emitSchemaFile: false,
    // every subscription has its own `subscribe` on the service bus; topics are not used
    pubSub: {
      publish() {},
      subscribe() {
        throw new Error('subscriptions read the service bus, not topics');
      },
    },
  });
}

/** The schema as SDL (what `schema.graphql` holds). */
export async function schemaSdl(plugins?: FerryPlugin[]): Promise<string> {
  return `${printSchema(await buildFerrySchema(plugins))}\n`;
}

export interface GatewayOptions {
  port?: number;
  host?: string;
  dataDir?: string;
  storage?: StorageOptions;
  /** Accepted bearer tokens besides those in storage. Default: FERRY_API_TOKENS (comma separated). */
  tokens?: string[];
  logger?: Logger;
  progressEveryMs?: number;
  alarmEveryMs?: number;
  plugins?: FerryPlugin[];
  /** The built web console served at / (default: FERRY_CONSOLE_DIR or apps/console/dist). */
  consoleDir?: string;
}

export interface Gateway {
  url: string;
  wsUrl: string;
  /** The web console (when it is built). */
  consoleUrl: string;
  service: FerryService;
  storage: Storage;
  close(): Promise<void>;
}

function sha256(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

/**
 * The gateway: GraphQL over HTTP (Apollo Server 5) and WebSocket (graphql-ws) on one port, at
 * /graphql; /metrics (Prometheus) and /healthz. Every request but /healthz needs a bearer token.
 */
export async function startGateway(o: GatewayOptions = {}): Promise<Gateway> {
  const log = o.logger ?? pino({ level: process.env.FERRY_LOG_LEVEL ?? 'info' });
  const dataDir = o.dataDir ?? 'data';
  const storage = await Storage.open({
    sqlitePath: `${dataDir}/ferry.db`,
    keyFile: `${dataDir}/secret.key`,
    ...o.storage,
  });
  const service = new FerryService(storage, {
    dataDir,
    log,
    ...(o.progressEveryMs ? { progressEveryMs: o.progressEveryMs } : {}),
    ...(o.plugins ? { plugins: o.plugins } : {}),
  });
  const fixed = (o.tokens ?? (process.env.FERRY_API_TOKENS ?? '').split(','))
    .map((t) => t.trim())
    .filter(Boolean);
  if (fixed.length === 0)
    log.warn('no FERRY_API_TOKENS: only tokens made with `ferry-gateway token create` are accepted');
  const authorized = async (header: string | undefined): Promise<boolean> => {
    const m = /^Bearer\s+(\S+)$/i.exec(header ?? '');
    if (!m) return false;
    const token = m[1] as string;
    const given = Buffer.from(sha256(token));
    if (fixed.some((t) => timingSafeEqual(Buffer.from(sha256(t)), given))) return true;
    return storage.hasToken(sha256(token));
  };

  const consoleDir = o.consoleDir ?? defaultConsoleDir();
  const consoleBuilt = (): boolean => existsSync(`${consoleDir}/index.html`);
  const schema = await buildFerrySchema(service.engine.registry.sourceTopologies());
  const apollo = new ApolloServer<Context>({
    schema,
    introspection: true,
    includeStacktraceInErrorResponses: false,
    validationRules: [queryLimitsRule()],
    // a variable of the wrong shape (an unknown option, a misspelled enum) is the caller's bad
    // input, under the same code as every other refused input
    formatError: (formatted) =>
      formatted.extensions?.code === 'BAD_USER_INPUT'
        ? { ...formatted, extensions: { ...formatted.extensions, code: 'BAD_INPUT' } }
        : formatted,
  });
  await apollo.start();

  const registry = new Registry();
  const gauge = (name: string, help: string, pick: (t: FerryService, id: string) => number): void => {
    new Gauge({
      name,
      help,
      labelNames: ['task'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [id] of service.liveTasks()) this.set({ task: id }, pick(service, id));
      },
    });
  };
  const sum = (id: string, f: (m: Record<string, unknown>) => number): number =>
    (service.live_(id)?.metrics() ?? []).reduce((n, m) => n + f(m as unknown as Record<string, unknown>), 0);
  gauge('ferry_task_keys', 'Snapshot keys written', (_s, id) => sum(id, (m) => Number(m.keys)));
  gauge('ferry_task_commands', 'Stream commands applied', (_s, id) => sum(id, (m) => Number(m.commands)));
  gauge('ferry_task_snapshot_bytes', 'Snapshot bytes read', (_s, id) =>
    sum(id, (m) => Number(m.snapshotBytes)),
  );
  gauge('ferry_task_lag_bytes', 'Largest shard lag in bytes', (s, id) => s.live_(id)?.lagBytes() ?? 0);
  gauge('ferry_task_errors', 'Errors seen (retried or not)', (_s, id) =>
    sum(id, (m) => Object.values(m.errors as Record<string, number>).reduce((a, b) => a + b, 0)),
  );

  const json = (res: ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
    res.end(JSON.stringify(body));
  };
  /** The body as text, or undefined when it is over MAX_BODY_BYTES (the rest is read and dropped). */
  const readBody = (req: IncomingMessage): Promise<string | undefined> =>
    new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size <= MAX_BODY_BYTES) chunks.push(c);
        else chunks.length = 0;
      });
      req.on('end', () =>
        resolve(size > MAX_BODY_BYTES ? undefined : Buffer.concat(chunks).toString('utf8')),
      );
      req.on('error', reject);
    });

  const http: Server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://gateway');
      if (url.pathname === '/healthz') return json(res, 200, { ok: true, storage: storage.dialect });
      // the console's sign-in asks whether a token is good: a yes/no answer, not a 401 the browser
      // reports as a failed load
      if (url.pathname === '/auth/check' && req.method === 'POST')
        return json(res, 200, { valid: await authorized(req.headers.authorization) });
      if (url.pathname !== '/graphql' && url.pathname !== '/metrics') {
        if (serveConsole(consoleDir, req, res, url.pathname)) return;
        // a file the console does not have: 404 (not a 401 that would ask for a token)
        if (req.method === 'GET' && extname(url.pathname) !== '' && consoleBuilt())
          return json(res, 404, { error: `no ${url.pathname} here` });
      }
      if (!(await authorized(req.headers.authorization))) {
        res.setHeader('www-authenticate', 'Bearer realm="ferry"');
        return json(res, 401, {
          error:
            'a bearer token is required: Authorization: Bearer <token> (FERRY_API_TOKENS or ferry-gateway token create)',
        });
      }
      if (url.pathname === '/metrics') {
        res.writeHead(200, { 'content-type': registry.contentType });
        return res.end(await registry.metrics());
      }
      if (url.pathname !== '/graphql')
        return json(res, 404, {
          error: `no ${url.pathname} here: GraphQL is at /graphql${consoleBuilt() ? '' : '; the web console at / is not built (pnpm build)'}`,
        });
      const headers = new HeaderMap();
      for (const [k, v] of Object.entries(req.headers))
        if (v !== undefined) headers.set(k, Array.isArray(v) ? v.join(', ') : v);
      let body: unknown;
      if (req.method === 'POST') {
        const text = await readBody(req);
        if (text === undefined) {
          res.setHeader('connection', 'close');
          return json(res, 413, {
            errors: [
              {
                message: `the request body is over ${MAX_BODY_BYTES >> 20} MB: send smaller requests`,
                extensions: { code: 'PAYLOAD_TOO_LARGE' },
              },
            ],
          });
        }
        try {
          body = text ? JSON.parse(text) : {};
        } catch {
          return json(res, 400, {
            errors: [{ message: 'the request body is not JSON', extensions: { code: 'BAD_REQUEST' } }],
          });
        }
      }
      const result = await apollo.executeHTTPGraphQLRequest({
        httpGraphQLRequest: { method: req.method ?? 'GET', headers, search: url.search, body },
        context: async () => ({ service }),
      });
      for (const [k, v] of result.headers) res.setHeader(k, v);
      res.statusCode = result.status ?? 200;
      if (result.body.kind === 'complete') res.end(result.body.string);
      else {
        for await (const chunk of result.body.asyncIterator) res.write(chunk);
        res.end();
      }
    })().catch((err: unknown) => {
      log.error({ err }, 'request failed');
      if (!res.headersSent) json(res, 500, { error: (err as Error).message });
      else res.end();
    });
  });

  const wss = new WebSocketServer({ server: http, path: '/graphql' });
  const ws = useServer<Record<string, unknown>, Record<string, unknown>>(
    {
      schema,
      // the same limits as over HTTP
      validate: (sch, doc) => validate(sch, doc, [...specifiedRules, queryLimitsRule()]),
      context: () => ({ service }) as Record<string, unknown>,
      onConnect: async (ctx) => {
        const p = ctx.connectionParams ?? {};
        const header = (p.authorization ??
          p.Authorization ??
          (p.token ? `Bearer ${String(p.token)}` : undefined)) as string | undefined;
        // false closes the socket with 4403 Forbidden
        return authorized(header);
      },
    },
    wss,
  );

  const alarms = new Alarms(service, storage, log, {
    ...(o.alarmEveryMs ? { everyMs: o.alarmEveryMs } : {}),
  });
  service.onAlarmRule = () => alarms.invalidate();
  alarms.start();
  await service.recover();
  await new Promise<void>((r) => http.listen(o.port ?? 4000, o.host ?? '127.0.0.1', r));
  const { port } = http.address() as AddressInfo;
  const host = o.host ?? '127.0.0.1';
  log.info(
    {
      port,
      host,
      storage: storage.dialect,
      console: consoleBuilt() ? `http://${host}:${port}/` : 'not built (pnpm build)',
    },
    'ferry gateway listening',
  );
  return {
    url: `http://${host}:${port}/graphql`,
    consoleUrl: `http://${host}:${port}/`,
    wsUrl: `ws://${host}:${port}/graphql`,
    service,
    storage,
    async close() {
      await ws.dispose();
      wss.close();
      await new Promise<void>((r) => http.close(() => r()));
      http.closeAllConnections();
      await apollo.stop();
      await alarms.stop();
      await service.close();
      await storage.close();
    },
  };
}
