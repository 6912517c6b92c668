import type { ServerIdentity } from '@ferry/plugin-sdk';
import { compareVersions, rdbVersionOf } from './versions.js';

export type { ServerIdentity };

const NAMES: Record<ServerIdentity['product'], string> = {
  redis: 'Redis',
  valkey: 'Valkey',
  keydb: 'KeyDB',
  dragonfly: 'Dragonfly',
};

/** The RDB a Redis release writes: 7.4 → 8.4 RDB 12, 8.6 RDB 13, 8.8 RDB 14, 8.10 RDB 15, 8.12 on newer still. */
export function redisRdbVersion(version: string): number {
  if (compareVersions(version, '8.12.0') >= 0) return 16;
  if (compareVersions(version, '8.10.0') >= 0) return 15;
  if (compareVersions(version, '8.8.0') >= 0) return 14;
  if (compareVersions(version, '8.6.0') >= 0) return 13;
  return rdbVersionOf(version);
}

/** Reads a node's identity from its INFO (the server section, as text or as parsed fields). */
export function serverIdentity(info: string | Record<string, string>): ServerIdentity {
  const get = (name: string): string | undefined => {
    if (typeof info !== 'string') return info[name];
    return new RegExp(`^${name}:([^\\r\\n]*)`, 'm').exec(info)?.[1]?.trim();
  };
  const redisVersion = get('redis_version') ?? '0.0.0';
  const valkey = get('valkey_version');
  const dragonfly = get('dragonfly_version');
  const exe = `${get('executable') ?? ''} ${get('config_file') ?? ''}`;
  if (valkey !== undefined || get('server_name') === 'valkey') {
    const version = valkey ?? redisVersion;
    // Valkey 9.0 and 9.1 write VALKEY080, 9.2 VALKEY081; before 9 the Redis 7.2 format (RDB 11)
    const writes =
      compareVersions(version, '9.2.0') >= 0
        ? { magic: 'VALKEY' as const, version: 81 }
        : compareVersions(version, '9.0.0') >= 0
          ? { magic: 'VALKEY' as const, version: 80 }
          : { magic: 'REDIS' as const, version: 11 };
    return {
      product: 'valkey',
      version,
      redisVersion,
      writes,
      restoreAccepts: 11,
      // Valkey 9 takes its own format back (rdb.h: RDB_VERSION 80; 12–79 are foreign to it)
      ...(writes.magic === 'VALKEY' ? { restoreAcceptsValkey: writes.version } : {}),
      label: `Valkey ${version}`,
    };
  }
  if (dragonfly !== undefined) {
    const version = dragonfly.replace(/^df-v?/, '');
    const rdb = rdbVersionOf(redisVersion);
    return {
      product: 'dragonfly',
      version,
      redisVersion,
      writes: { magic: 'REDIS', version: rdb },
      restoreAccepts: rdb,
      label: `Dragonfly ${version}`,
    };
  }
  const product = /keydb/i.test(exe) ? 'keydb' : 'redis';
  const rdb = redisRdbVersion(redisVersion);
  return {
    product,
    version: redisVersion,
    redisVersion,
    writes: { magic: 'REDIS', version: rdb },
    restoreAccepts: rdb,
    label: `${NAMES[product]} ${redisVersion}`,
  };
}
