#!/usr/bin/env node
import 'reflect-metadata';
import { loadPlugins } from '@ferry/core';
import { Storage } from '@ferry/storage';
import { schemaSdl, startGateway } from './server.js';
import { sourcePlugins } from './service.js';

const USAGE = `Usage: ferry-gateway [serve]            start the gateway (the web console at /, GraphQL at /graphql)
       ferry-gateway schema             print the GraphQL schema (SDL)
       ferry-gateway token create NAME  make an API token (printed once; only its hash is kept)

Environment: FERRY_PORT (4000), FERRY_HOST (127.0.0.1), FERRY_DATA_DIR (./data: ferry.db, secret.key,
spool/), FERRY_DATABASE_URL (postgres://… instead of SQLite), FERRY_SECRET_KEY, FERRY_API_TOKENS
(comma separated), FERRY_LOG_LEVEL (info), FERRY_CONSOLE_DIR (the built console: apps/console/dist),
FERRY_PLUGINS (plugin packages or paths to load, comma separated: their topologies, options and checks
join the built-in ones, in the schema and the console too).
`;

const [cmd = 'serve', ...rest] = process.argv.slice(2);
const dataDir = process.env.FERRY_DATA_DIR ?? 'data';
try {
  const extra = (process.env.FERRY_PLUGINS ?? '')
    .split(',')
    .map((n) => n.trim())
    .filter(Boolean);
  const plugins = extra.length > 0 ? [...sourcePlugins(), ...(await loadPlugins(extra))] : undefined;
  if (cmd === 'schema') process.stdout.write(await schemaSdl(plugins));
  else if (cmd === 'token' && rest[0] === 'create') {
    const name = rest[1] ?? 'token';
    const storage = await Storage.open({
      sqlitePath: `${dataDir}/ferry.db`,
      keyFile: `${dataDir}/secret.key`,
    });
    const token = await storage.createToken(name);
    await storage.close();
    process.stdout.write(`${token}\n`);
  } else if (cmd === 'serve') {
    const gw = await startGateway({
      port: Number(process.env.FERRY_PORT ?? 4000),
      host: process.env.FERRY_HOST ?? '127.0.0.1',
      dataDir,
      ...(plugins ? { plugins } : {}),
    });
    const stop = (): void => {
      void gw.close().then(() => process.exit(0));
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  } else {
    process.stderr.write(USAGE);
    process.exit(cmd === '--help' || cmd === 'help' ? 0 : 2);
  }
} catch (err) {
  process.stderr.write(`ferry-gateway: ${(err as Error).message}\n`);
  process.exit(1);
}
