import { execFile } from 'node:child_process';
import { chownSync, existsSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { compareVersions, whichSync } from '../binaries.js';
import { TestkitError, TestkitUnavailableError } from '../errors.js';
import { tailFile, waitStarted } from '../internal/startup.js';
import { allocatePort, releasePort } from '../ports.js';
import { type ManagedProcess, spawnManaged } from '../processes.js';
import { makeTempDir, removeDir } from '../tempdir.js';
import { waitFor } from '../wait.js';

const execFileAsync = promisify(execFile);

interface PgBinaries {
  initdb: string;
  postgres: string;
  pgIsReady?: string;
  createdb?: string;
}

/** FERRY_PG_BIN, then PATH, then Debian's /usr/lib/postgresql/<newest>/bin. */
function findPgBinaries(): PgBinaries | string {
  const dirs: string[] = [];
  if (process.env.FERRY_PG_BIN) dirs.push(process.env.FERRY_PG_BIN);
  const onPath = whichSync('initdb');
  if (onPath) dirs.push(dirname(realpathSync(onPath)));
  if (existsSync('/usr/lib/postgresql')) {
    const versions = readdirSync('/usr/lib/postgresql').sort((a, b) => compareVersions(b, a));
    dirs.push(...versions.map((v) => `/usr/lib/postgresql/${v}/bin`));
  }
  for (const dir of dirs) {
    const initdb = join(dir, 'initdb');
    const postgres = join(dir, 'postgres');
    if (existsSync(initdb) && existsSync(postgres)) {
      const bins: PgBinaries = { initdb, postgres };
      if (existsSync(join(dir, 'pg_isready'))) bins.pgIsReady = join(dir, 'pg_isready');
      if (existsSync(join(dir, 'createdb'))) bins.createdb = join(dir, 'createdb');
      return bins;
    }
  }
  return 'PostgreSQL server binaries (initdb, postgres) not found: install postgresql (tooling/scripts/ensure-deps.sh) or set FERRY_PG_BIN';
}

/** PostgreSQL refuses to run as root: as root we run it as the `postgres` system user. */
function runAs(): { uid: number; gid: number } | undefined | string {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return undefined;
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const [name, , uid, gid] = line.split(':');
      if (name === 'postgres' && uid && gid) return { uid: Number(uid), gid: Number(gid) };
    }
  } catch {
    // fall through
  }
  return 'running as root and there is no "postgres" system user to run PostgreSQL as';
}

/** Why PostgreSQL cannot run here, or undefined when it can. Tests skip with this message. */
export function postgresUnavailableReason(): string | undefined {
  const bins = findPgBinaries();
  if (typeof bins === 'string') return bins;
  const user = runAs();
  return typeof user === 'string' ? user : undefined;
}

export interface StartPostgresOptions {
  /** Database created for the test. Default "ferry". */
  database?: string;
  user?: string;
}

/** A throwaway PostgreSQL cluster (initdb + postgres) on a free loopback port, trust auth, no fsync. */
export class Postgres {
  readonly host = '127.0.0.1';
  private proc: ManagedProcess | undefined;
  private stopped = false;

  private constructor(
    readonly port: number,
    readonly dir: string,
    readonly user: string,
    readonly database: string,
  ) {}

  static async start(options: StartPostgresOptions = {}): Promise<Postgres> {
    const bins = findPgBinaries();
    if (typeof bins === 'string') throw new TestkitUnavailableError(bins);
    const owner = runAs();
    if (typeof owner === 'string') throw new TestkitUnavailableError(owner);
    const port = await allocatePort();
    const dir = makeTempDir('postgres');
    const pg = new Postgres(port, dir, options.user ?? 'ferry', options.database ?? 'ferry');
    const ids = owner ? { uid: owner.uid, gid: owner.gid } : {};
    try {
      if (owner) chownSync(dir, owner.uid, owner.gid);
      const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C', LC_ALL: 'C', HOME: dir };
      try {
        await execFileAsync(
          bins.initdb,
          ['-D', pg.dataDir, '-U', pg.user, '-A', 'trust', '-E', 'UTF8', '--no-locale', '--no-sync'],
          { ...ids, env, cwd: dir, timeout: 120_000 },
        );
      } catch (err) {
        const e = err as { stderr?: string; message: string };
        throw new TestkitError('TESTKIT_START_FAILED', `initdb failed: ${e.message}\n${e.stderr ?? ''}`);
      }
      const settings = [
        'listen_addresses=127.0.0.1',
        'unix_socket_directories=',
        'fsync=off',
        'synchronous_commit=off',
        'full_page_writes=off',
        'max_connections=50',
      ];
      pg.proc = spawnManaged(
        bins.postgres,
        ['-D', pg.dataDir, '-p', String(port), ...settings.flatMap((s) => ['-c', s])],
        {
          label: `postgres:${port}`,
          cwd: dir,
          env,
          outputFile: pg.logPath,
          ...ids,
        },
      );
      await waitStarted(
        pg.proc,
        'postgres',
        () => pg.logTail(),
        () =>
          waitFor(() => Promise.resolve(pg.logTail(50).includes('ready to accept connections')), {
            what: `postgres ${port} to accept connections`,
            timeoutMs: 60_000,
            intervalMs: 100,
          }),
      );
      if (!bins.createdb) {
        throw new TestkitError('TESTKIT_START_FAILED', `createdb not found beside ${bins.initdb}`);
      }
      await execFileAsync(bins.createdb, ['-h', pg.host, '-p', String(port), '-U', pg.user, pg.database], {
        env,
        timeout: 30_000,
      });
    } catch (err) {
      await pg.stop();
      throw err;
    }
    return pg;
  }

  get dataDir(): string {
    return join(this.dir, 'pgdata');
  }
  get logPath(): string {
    return join(this.dir, 'postgres.log');
  }
  get pid(): number {
    if (!this.proc) throw new TestkitError('TESTKIT_INVALID_ARGUMENT', 'postgres is not running');
    return this.proc.pid;
  }
  /** `postgres://ferry@127.0.0.1:<port>/ferry` (trust auth: no password). */
  get url(): string {
    return `postgres://${this.user}@${this.host}:${this.port}/${this.database}`;
  }
  running(): boolean {
    return this.proc?.running() ?? false;
  }

  logTail(lines = 20): string {
    return tailFile(this.logPath, lines) || '(no output)';
  }

  /** Fast shutdown (SIGINT, as `pg_ctl stop -m fast`), then removes the cluster's folder. Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    try {
      await this.proc?.stop('SIGINT', 15_000);
    } finally {
      releasePort(this.port);
      removeDir(this.dir);
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

export function startPostgres(options: StartPostgresOptions = {}): Promise<Postgres> {
  return Postgres.start(options);
}
