import { execFileSync } from 'node:child_process';
import { accessSync, constants, existsSync, readdirSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { TestkitError, TestkitUnavailableError } from './errors.js';

/** The external programs the harness drives, with the variable that overrides each. */
export const BINARY_ENV = {
  'redis-server': 'FERRY_REDIS_SERVER',
  'redis-cli': 'FERRY_REDIS_CLI',
  nutcracker: 'FERRY_NUTCRACKER',
} as const;
export type BinaryName = keyof typeof BINARY_ENV;

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Finds `name` on PATH (plus the sbin folders, where Debian puts nutcracker). */
export function whichSync(
  name: string,
  extraDirs: string[] = ['/usr/sbin', '/usr/local/sbin', '/sbin'],
): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), ...extraDirs].filter(Boolean);
  for (const dir of dirs) {
    const candidate = join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/** Resolves a binary: the override variable first, then PATH. Throws naming both when neither has it. */
export function resolveBinary(name: BinaryName): string {
  const envName = BINARY_ENV[name];
  const fromEnv = process.env[envName];
  if (fromEnv) {
    if (!isExecutable(fromEnv)) {
      throw new TestkitError('TESTKIT_BINARY_NOT_FOUND', `${envName}=${fromEnv} is not an executable file`);
    }
    return fromEnv;
  }
  const found = whichSync(name);
  if (!found) {
    throw new TestkitError(
      'TESTKIT_BINARY_NOT_FOUND',
      `${name} not found on PATH and ${envName} is not set; run tooling/scripts/ensure-deps.sh`,
    );
  }
  return found;
}

const versionCache = new Map<string, string>();

/** `redis-server --version` → "7.0.15" (works from 2.x on: "Redis server v=2.8.24 sha=…"). */
export function redisServerVersion(binary: string): string {
  const cached = versionCache.get(binary);
  if (cached) return cached;
  const out = execFileSync(binary, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  const match = /v=(\d+\.\d+\.\d+)/.exec(out) ?? /version (\d+\.\d+\.\d+)/.exec(out);
  if (!match?.[1])
    throw new TestkitError('TESTKIT_START_FAILED', `cannot read the version of ${binary}: ${out.trim()}`);
  versionCache.set(binary, match[1]);
  return match[1];
}

/** Compares dotted versions numerically: <0, 0, >0. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** True when `version` (e.g. "7.0.15") is the release line `wanted` names ("7", "7.0" or "7.0.15"). */
export function versionMatches(version: string, wanted: string): boolean {
  return version === wanted || version.startsWith(`${wanted}.`);
}

export interface RedisBuild {
  server: string;
  cli: string;
  version: string;
}

/**
 * Finds a Redis build for a release line. Without `wanted`, the default binaries (override variables,
 * then PATH). With it: the default build when its version matches, else a folder of builds named by
 * `FERRY_REDIS_BUILDS` laid out as `<dir>/<version>/{,bin/,src/}redis-server` (e.g. `~/redis/2.8/src/redis-server`);
 * `valkey-8.0` asks for a Valkey build there, in `<dir>/valkey-<version>/` (valkey-server or its redis-server link).
 * Throws TestkitUnavailableError (tests skip on it) when no such build exists here.
 */
export function resolveRedisBuild(wanted?: string): RedisBuild {
  const server = resolveBinary('redis-server');
  const defaultBuild = (): RedisBuild => ({
    server,
    cli: resolveBinary('redis-cli'),
    version: redisServerVersion(server),
  });
  if (!wanted) return defaultBuild();
  // "valkey-8.0": a Valkey build (its folder named valkey-<version>); otherwise a Redis release line
  const valkey = wanted.startsWith('valkey-');
  const line = wanted.replace(/^valkey-/, '');
  const defaultVersion = redisServerVersion(server);
  if (!valkey && versionMatches(defaultVersion, wanted)) return defaultBuild();
  const root = process.env.FERRY_REDIS_BUILDS;
  if (root && existsSync(root)) {
    const names = readdirSync(root).filter((n) =>
      valkey
        ? n.startsWith('valkey-') && versionMatches(n.slice(7), line)
        : !n.startsWith('valkey-') && versionMatches(n.replace(/^redis-/, ''), wanted),
    );
    names.sort((a, b) => compareVersions(b.replace(/^redis-/, ''), a.replace(/^redis-/, '')));
    for (const name of names) {
      for (const sub of ['', 'bin', 'src'])
        for (const prefix of valkey ? ['valkey', 'redis'] : ['redis']) {
          const s = join(root, name, sub, `${prefix}-server`);
          const c = join(root, name, sub, `${prefix}-cli`);
          if (isExecutable(s) && isExecutable(c))
            return { server: s, cli: c, version: redisServerVersion(s) };
        }
    }
  }
  throw new TestkitUnavailableError(
    `no ${valkey ? `Valkey ${line}` : `Redis ${wanted}`} build here: the default redis-server is ${defaultVersion}` +
      (root ? ` and ${root} has none for ${wanted}` : '; set FERRY_REDIS_BUILDS to a folder of builds'),
  );
}
