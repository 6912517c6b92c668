import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis, type RedisOptions } from 'ioredis';
import { compareVersions, type RedisBuild, resolveRedisBuild } from '../binaries.js';
import { TestkitError } from '../errors.js';
import { ClientRegistry, clientOptions, info, withClient } from '../internal/client.js';
import { tailFile, waitStarted } from '../internal/startup.js';
import { allocatePort, releasePort } from '../ports.js';
import { type ManagedProcess, spawnManaged } from '../processes.js';
import { makeTempDir, removeDir } from '../tempdir.js';
import { type Endpoint, endpointUrl } from '../types.js';
import { waitFor } from '../wait.js';

export interface AclUser {
  name: string;
  password: string;
  /** ACL rules after `on >password`, e.g. `~* &* +@all -psync -sync`. Default: `~* &* +@all`. */
  rules?: string;
}

export type ConfigValue = string | number | boolean | Array<string | number>;

export interface StartRedisOptions {
  /** Release line ("7.0", "2.8"): see resolveRedisBuild. Default: the redis-server on PATH. */
  version?: string;
  /** `requirepass` (the default user's password). */
  password?: string;
  /** ACL users (Redis 6+). */
  aclUsers?: AclUser[];
  /** Extra redis.conf directives; an array value writes the directive once per item. */
  config?: Record<string, ConfigValue>;
  /** Start as a cluster node (`cluster-enabled yes`). */
  cluster?: boolean;
  /** How long to wait for the server to answer PING. */
  startTimeoutMs?: number;
  /** Label used in folder names and messages. */
  label?: string;
  /**
   * Start a Sentinel (`redis-server … --sentinel`) watching `master` under `name`, instead of a
   * data server; `password` is then the Sentinel's own.
   */
  sentinel?: {
    name: string;
    master: Endpoint;
    /** Sentinels that must agree the master is down (default 1). */
    quorum?: number;
    /** Default 1000 ms (Redis's is 30 s). */
    downAfterMs?: number;
    /** Default 5000 ms. */
    failoverTimeoutMs?: number;
  };
}

/** Values are written as given (`"replica 0 0 0"` stays three words); only "" is quoted. */
function configLine(name: string, value: ConfigValue): string[] {
  const render = (v: string | number | boolean): string => {
    if (typeof v === 'boolean') return v ? 'yes' : 'no';
    const s = String(v);
    return s === '' ? '""' : s;
  };
  if (Array.isArray(value)) return value.map((v) => `${name} ${render(v)}`);
  return [`${name} ${render(value)}`];
}

/** A single config argument, quoted the way redis.conf's sdssplitargs reads it. */
function quoted(value: string): string {
  return /^[\x21-\x7e]+$/.test(value) && !/["'\\]/.test(value) ? value : JSON.stringify(value);
}

/** A real redis-server on loopback, in its own temp folder, owned by this process. */
export class RedisServer {
  readonly host = '127.0.0.1';
  private proc: ManagedProcess | undefined;
  private readonly clients = new ClientRegistry<Redis>();
  private stopped = false;

  private constructor(
    readonly port: number,
    readonly dir: string,
    readonly build: RedisBuild,
    readonly options: StartRedisOptions,
  ) {}

  /** Starts a server; resolves when it answers PING (and is not loading). */
  static async start(options: StartRedisOptions = {}): Promise<RedisServer> {
    const build = resolveRedisBuild(options.version);
    const port = await allocatePort({ clusterBus: options.cluster === true });
    const dir = makeTempDir(options.label ?? 'redis');
    const server = new RedisServer(port, dir, build, options);
    try {
      writeFileSync(server.configPath, server.renderConfig());
      await server.launch();
    } catch (err) {
      await server.stop();
      throw err;
    }
    return server;
  }

  get version(): string {
    return this.build.version;
  }
  get password(): string | undefined {
    return this.options.password;
  }
  get configPath(): string {
    return join(this.dir, 'redis.conf');
  }
  get logPath(): string {
    return join(this.dir, 'redis.log');
  }
  get rdbPath(): string {
    return join(this.dir, 'dump.rdb');
  }
  get pid(): number {
    if (!this.proc) throw new TestkitError('TESTKIT_INVALID_ARGUMENT', `redis ${this.port} is not running`);
    return this.proc.pid;
  }
  get endpoint(): Endpoint {
    return { host: this.host, port: this.port, ...(this.password ? { password: this.password } : {}) };
  }
  /** `redis://[:password@]127.0.0.1:port`. */
  get url(): string {
    return endpointUrl(this.endpoint);
  }
  /** True while the process runs. */
  running(): boolean {
    return this.proc?.running() ?? false;
  }
  atLeast(version: string): boolean {
    return compareVersions(this.version, version) >= 0;
  }

  private renderConfig(): string {
    const o = this.options;
    if (o.sentinel) return this.renderSentinelConfig(o.sentinel);
    const lines = [
      `port ${this.port}`,
      'bind 127.0.0.1',
      `dir ${this.dir}`,
      'dbfilename dump.rdb',
      `logfile ${this.logPath}`,
      'daemonize no',
      'save ""',
      'appendonly no',
    ];
    if (this.atLeast('3.2.0')) lines.push('protected-mode no');
    // Replicas sync at once instead of waiting 5 s for others (override with config when a test needs it).
    if (this.atLeast('2.8.18')) lines.push('repl-diskless-sync-delay 0');
    if (this.atLeast('7.0.0')) lines.push('enable-debug-command yes');
    if (o.password) {
      // Replicas (and cluster nodes replicating each other) log in with the same password.
      lines.push(`requirepass ${quoted(o.password)}`, `masterauth ${quoted(o.password)}`);
    }
    if (o.aclUsers?.length) {
      if (!this.atLeast('6.0.0')) {
        throw new TestkitError(
          'TESTKIT_INVALID_ARGUMENT',
          `ACL users need Redis 6+, this is ${this.version}`,
        );
      }
      for (const u of o.aclUsers) {
        lines.push(`user ${quoted(u.name)} on ${quoted(`>${u.password}`)} ${u.rules ?? '~* &* +@all'}`);
      }
    }
    if (o.cluster) {
      lines.push('cluster-enabled yes', 'cluster-config-file nodes.conf', 'cluster-node-timeout 3000');
    }
    for (const [name, value] of Object.entries(o.config ?? {})) lines.push(...configLine(name, value));
    return `${lines.join('\n')}\n`;
  }

  private renderSentinelConfig(t: NonNullable<StartRedisOptions['sentinel']>): string {
    const lines = [
      `port ${this.port}`,
      'bind 127.0.0.1',
      `dir ${this.dir}`,
      `logfile ${this.logPath}`,
      'daemonize no',
      'protected-mode no',
      `sentinel monitor ${t.name} ${t.master.host} ${t.master.port} ${t.quorum ?? 1}`,
      `sentinel down-after-milliseconds ${t.name} ${t.downAfterMs ?? 1000}`,
      `sentinel failover-timeout ${t.name} ${t.failoverTimeoutMs ?? 5000}`,
    ];
    if (t.master.password) lines.push(`sentinel auth-pass ${t.name} ${quoted(t.master.password)}`);
    if (this.options.password) lines.push(`requirepass ${quoted(this.options.password)}`);
    for (const [name, value] of Object.entries(this.options.config ?? {}))
      lines.push(...configLine(name, value));
    return `${lines.join('\n')}\n`;
  }

  private async launch(): Promise<void> {
    const args = this.options.sentinel ? [this.configPath, '--sentinel'] : [this.configPath];
    this.proc = spawnManaged(this.build.server, args, {
      label: `redis:${this.port}`,
      cwd: this.dir,
      outputFile: join(this.dir, 'stdout.log'),
    });
    await waitStarted(
      this.proc,
      `redis-server ${this.version} on port ${this.port}`,
      () => this.logTail(15),
      () =>
        waitFor(
          () =>
            withClient(this.endpoint, async (c) => {
              await c.ping();
              return (await info(c, 'persistence')).loading !== '1';
            }),
          { what: `redis ${this.port} to answer PING`, timeoutMs: this.options.startTimeoutMs ?? 20_000 },
        ),
    );
  }

  /** The last lines of the server's output and log (config errors go to stderr, the rest to the log). */
  logTail(lines = 20): string {
    const text = [tailFile(join(this.dir, 'stdout.log'), lines), tailFile(this.logPath, lines)];
    return text.filter(Boolean).join('\n') || '(no output)';
  }

  /** A new ioredis client to this server (closed by `stop`). */
  client(options: RedisOptions = {}): Redis {
    const client = new Redis(clientOptions(this.endpoint, options));
    return this.clients.track(client);
  }

  /** INFO as a flat map. */
  async info(section?: string): Promise<Record<string, string>> {
    return withClient(this.endpoint, (c) => info(c, section));
  }

  /** Runs one command on a short-lived connection. */
  async command(name: string, ...args: Array<string | number | Buffer>): Promise<unknown> {
    return withClient(this.endpoint, (c) => c.call(name, ...args));
  }

  /** Kills the process (default SIGKILL: a crash) but keeps its folder and port so `restart` can follow. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    await this.proc?.stop(signal, 5_000);
  }

  /** Starts the process again on the same port, folder and config (after `kill`). */
  async restart(): Promise<void> {
    if (this.stopped)
      throw new TestkitError('TESTKIT_INVALID_ARGUMENT', `redis ${this.port} was stopped for good`);
    if (this.running()) await this.kill('SIGTERM');
    await this.launch();
  }

  /** Stops the server, closes its clients, frees its port and removes its folder. Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.clients.closeAll();
    try {
      await this.proc?.stop('SIGTERM', 10_000);
    } finally {
      releasePort(this.port);
      removeDir(this.dir);
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

/** Starts a standalone redis-server. */
export function startRedis(options: StartRedisOptions = {}): Promise<RedisServer> {
  return RedisServer.start(options);
}

export interface StartReplicaOptions extends Omit<StartRedisOptions, 'cluster'> {
  /** Wait for the initial sync to finish (default true). */
  waitForSync?: boolean;
}

/** Starts a replica of `primary` (same password unless given) and waits until its link is up and synced. */
export async function startReplica(
  primary: RedisServer,
  options: StartReplicaOptions = {},
): Promise<RedisServer> {
  const password = options.password ?? primary.password;
  const version = options.version;
  const replica = await RedisServer.start({
    ...options,
    ...(password ? { password } : {}),
    ...(version ? { version } : {}),
    label: options.label ?? 'replica',
    config: {
      ...(primary.atLeast('5.0.0')
        ? { replicaof: `${primary.host} ${primary.port}` }
        : { slaveof: `${primary.host} ${primary.port}` }),
      ...options.config,
    },
  });
  if (options.waitForSync !== false) await waitReplicaSynced(replica);
  return replica;
}

/** Waits until a replica's link to its primary is up and no sync is in progress. */
export async function waitReplicaSynced(replica: RedisServer, timeoutMs = 30_000): Promise<void> {
  await waitFor(
    async () => {
      const r = await replica.info('replication');
      return r.master_link_status === 'up' && r.master_sync_in_progress === '0';
    },
    { what: `replica ${replica.port} to finish its sync`, timeoutMs },
  );
}
