import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { FerryError } from '@ferry/errors';

/** YAML's parser, loaded when a file is read: some 30 ms of every start-up otherwise (yaml is CommonJS). */
function parseYaml(text: string): unknown {
  const { parse } = createRequire(import.meta.url)('yaml') as typeof import('yaml');
  return parse(text);
}

/** One `servers:` entry of a nutcracker.yml pool: `host:port:weight [name]`. */
export interface NutcrackerServer {
  host: string;
  port: number;
  weight: number;
  name: string | undefined;
}

export interface NutcrackerPool {
  name: string;
  servers: NutcrackerServer[];
  /** `redis_auth`: the password twemproxy logs in to its backends with. */
  redisAuth: string | undefined;
  /** `redis_db`: the db twemproxy selects on its backends (0.4+). */
  redisDb: number;
}

function bad(where: string, why: string): FerryError {
  return new FerryError('CONFIG_INVALID', `${where}: ${why}`);
}

/** `host:port:weight [name]` (twemproxy's own format; unix sockets are `/path:weight`). */
export function parseServer(line: unknown, where: string): NutcrackerServer {
  if (typeof line !== 'string')
    throw bad(where, `a server entry must be "host:port:weight [name]", got ${JSON.stringify(line)}`);
  const [addr, name, ...rest] = line.trim().split(/\s+/);
  if (!addr || rest.length > 0) throw bad(where, `"${line}" is not "host:port:weight [name]"`);
  if (addr.startsWith('/'))
    throw bad(where, `"${line}" is a unix socket: Ferry replicates over TCP; list the backend as host:port`);
  const m = /^(.+):(\d+):(\d+)$/.exec(addr);
  if (!m) throw bad(where, `"${line}" is not "host:port:weight [name]"`);
  const port = Number(m[2]);
  if (port < 1 || port > 65535) throw bad(where, `"${line}": port ${port} is not 1–65535`);
  return { host: m[1] as string, port, weight: Number(m[3]), name };
}

/**
 * A pool of a nutcracker.yml (its text): the one named, or the only one. Refuses memcached pools
 * (no `redis: true`), pools without servers and duplicate server names.
 */
export function parseNutcracker(
  text: string,
  pool: string | undefined,
  source = 'nutcracker.yml',
): NutcrackerPool {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw bad(source, `not valid YAML: ${(err as Error).message}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc))
    throw bad(source, 'expected a mapping of pool names to pools');
  const pools = doc as Record<string, unknown>;
  const names = Object.keys(pools);
  if (names.length === 0) throw bad(source, 'no pool in the file');
  const name = pool ?? (names.length === 1 ? names[0] : undefined);
  if (!name) throw bad(source, `it has ${names.length} pools (${names.join(', ')}): choose one with pool`);
  const p = pools[name];
  if (p === undefined) throw bad(source, `no pool "${name}" (pools: ${names.join(', ')})`);
  if (typeof p !== 'object' || p === null) throw bad(source, `pool "${name}" is not a mapping`);
  const o = p as Record<string, unknown>;
  if (o.redis !== true)
    throw bad(
      source,
      `pool "${name}" is a memcached pool (no "redis: true"): only Redis pools can be migrated`,
    );
  const list = o.servers;
  if (!Array.isArray(list) || list.length === 0) throw bad(source, `pool "${name}" lists no servers`);
  const servers = list.map((s, i) => parseServer(s, `${source} pool "${name}" server ${i + 1}`));
  const seen = new Set<string>();
  for (const s of servers) {
    const id = s.name ?? `${s.host}:${s.port}`;
    if (seen.has(id)) throw bad(source, `pool "${name}" lists ${id} twice`);
    seen.add(id);
  }
  const db = o.redis_db === undefined ? 0 : Number(o.redis_db);
  if (!Number.isInteger(db) || db < 0)
    throw bad(source, `pool "${name}": redis_db ${String(o.redis_db)} is not a db number`);
  return {
    name,
    servers,
    redisAuth: o.redis_auth === undefined || o.redis_auth === null ? undefined : String(o.redis_auth),
    redisDb: db,
  };
}

export function readNutcracker(path: string, pool: string | undefined): NutcrackerPool {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw bad(path, `cannot read it: ${(err as Error).message}`);
  }
  return parseNutcracker(text, pool, path);
}
