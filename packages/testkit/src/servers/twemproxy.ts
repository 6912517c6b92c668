import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis, type RedisOptions } from 'ioredis';
import { resolveBinary } from '../binaries.js';
import { TestkitError } from '../errors.js';
import { ClientRegistry, clientOptions, withClient } from '../internal/client.js';
import { tailFile, waitStarted } from '../internal/startup.js';
import { allocatePort, releasePort } from '../ports.js';
import { type ManagedProcess, spawnManaged } from '../processes.js';
import { makeTempDir, removeDir } from '../tempdir.js';
import type { Endpoint } from '../types.js';
import { waitFor } from '../wait.js';

/** twemproxy refuses INFO and CLIENT: no ioredis ready check through it. */
const PROXY_CLIENT: RedisOptions = { enableReadyCheck: false };

/** twemproxy's hash functions (nutcracker.yml `hash:`). */
export type TwemproxyHash =
  | 'one_at_a_time'
  | 'md5'
  | 'crc16'
  | 'crc32'
  | 'crc32a'
  | 'fnv1_64'
  | 'fnv1a_64'
  | 'fnv1_32'
  | 'fnv1a_32'
  | 'hsieh'
  | 'murmur'
  | 'jenkins';
export type TwemproxyDistribution = 'ketama' | 'modula' | 'random';

export interface TwemproxyBackend extends Endpoint {
  weight?: number;
  /** Server name (`host:port:weight name`); with ketama, names decide placement instead of addresses. */
  name?: string;
}

export interface StartTwemproxyOptions {
  backends: Array<TwemproxyBackend | { endpoint: Endpoint }>;
  hash?: TwemproxyHash;
  distribution?: TwemproxyDistribution;
  /** Pool name in nutcracker.yml. Default "ferry". */
  pool?: string;
  /** `redis_auth`: the password twemproxy sends to backends and requires from clients. */
  password?: string;
  /** Hash tag delimiters, e.g. "{}". */
  hashTag?: string;
  /** Extra pool keys written verbatim. */
  extra?: Record<string, string | number | boolean>;
}

/** A real nutcracker (twemproxy) in front of Redis backends, with a generated nutcracker.yml. */
export class Twemproxy {
  readonly host = '127.0.0.1';
  private proc: ManagedProcess | undefined;
  private readonly clients = new ClientRegistry<Redis>();
  private stopped = false;

  private constructor(
    readonly port: number,
    readonly statsPort: number,
    readonly dir: string,
    readonly pool: string,
    readonly backends: TwemproxyBackend[],
    readonly options: StartTwemproxyOptions,
  ) {}

  static async start(options: StartTwemproxyOptions): Promise<Twemproxy> {
    if (options.backends.length === 0) {
      throw new TestkitError('TESTKIT_INVALID_ARGUMENT', 'twemproxy needs at least one backend');
    }
    const binary = resolveBinary('nutcracker');
    const backends = options.backends.map((b, i) => ({
      ...('endpoint' in b ? b.endpoint : b),
      name: ('name' in b && b.name) || `server${i + 1}`,
      weight: ('weight' in b && b.weight) || 1,
    }));
    const port = await allocatePort();
    const statsPort = await allocatePort();
    const dir = makeTempDir('twemproxy');
    const proxy = new Twemproxy(port, statsPort, dir, options.pool ?? 'ferry', backends, options);
    try {
      writeFileSync(proxy.configPath, proxy.renderConfig());
      const args = ['-c', proxy.configPath, '-s', String(statsPort), '-a', '127.0.0.1', '-o', proxy.logPath];
      proxy.proc = spawnManaged(binary, [...args, '-p', join(dir, 'nutcracker.pid')], {
        label: `nutcracker:${port}`,
        cwd: dir,
        outputFile: join(dir, 'stdout.log'),
      });
      await waitStarted(
        proxy.proc,
        'nutcracker',
        () => proxy.logTail(),
        () =>
          waitFor(() => withClient(proxy.endpoint, async (c) => (await c.ping()) === 'PONG', PROXY_CLIENT), {
            what: `nutcracker ${port} to answer PING`,
          }),
      );
    } catch (err) {
      await proxy.stop();
      throw err;
    }
    return proxy;
  }

  get configPath(): string {
    return join(this.dir, 'nutcracker.yml');
  }
  get logPath(): string {
    return join(this.dir, 'nutcracker.log');
  }
  get hash(): TwemproxyHash {
    return this.options.hash ?? 'fnv1a_64';
  }
  get distribution(): TwemproxyDistribution {
    return this.options.distribution ?? 'ketama';
  }
  get pid(): number {
    if (!this.proc) throw new TestkitError('TESTKIT_INVALID_ARGUMENT', 'nutcracker is not running');
    return this.proc.pid;
  }
  get endpoint(): Endpoint {
    return {
      host: this.host,
      port: this.port,
      ...(this.options.password ? { password: this.options.password } : {}),
    };
  }
  running(): boolean {
    return this.proc?.running() ?? false;
  }

  /** The nutcracker.yml this proxy runs with (the form operators hand to Ferry). */
  renderConfig(): string {
    const o = this.options;
    const lines = [
      `${this.pool}:`,
      `  listen: ${this.host}:${this.port}`,
      `  hash: ${this.hash}`,
      `  distribution: ${this.distribution}`,
      '  redis: true',
      '  auto_eject_hosts: false',
      '  preconnect: true',
      '  timeout: 10000',
    ];
    if (o.hashTag) lines.push(`  hash_tag: "${o.hashTag}"`);
    if (o.password) lines.push(`  redis_auth: ${JSON.stringify(o.password)}`);
    for (const [k, v] of Object.entries(o.extra ?? {})) lines.push(`  ${k}: ${String(v)}`);
    lines.push('  servers:');
    for (const b of this.backends) lines.push(`   - ${b.host}:${b.port}:${b.weight ?? 1} ${b.name}`);
    return `${lines.join('\n')}\n`;
  }

  logTail(lines = 20): string {
    return tailFile(this.logPath, lines) || tailFile(join(this.dir, 'stdout.log'), lines) || '(no output)';
  }

  /** An ioredis client through the proxy (closed by `stop`). */
  client(options: RedisOptions = {}): Redis {
    const client = new Redis(clientOptions(this.endpoint, { ...PROXY_CLIENT, ...options }));
    return this.clients.track(client);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.clients.closeAll();
    try {
      await this.proc?.stop('SIGTERM', 5_000);
    } finally {
      releasePort(this.port);
      releasePort(this.statsPort);
      removeDir(this.dir);
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

export function startTwemproxy(options: StartTwemproxyOptions): Promise<Twemproxy> {
  return Twemproxy.start(options);
}
