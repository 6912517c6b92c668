/**
 * Which server a node is, from INFO server as each product writes it. The texts are the fields
 * those servers print (Valkey's from its INFO documentation, with the release numbers changed;
 * Dragonfly's `dragonfly_version`); no such server runs in CI here.
 */
import { describe, expect, it } from 'vitest';
import { hasImportMode } from '../src/import-mode.js';
import { redisRdbVersion, serverIdentity } from '../src/server-identity.js';

const valkey = (v: string): string =>
  `# Server\r\nredis_version:7.2.4\r\nserver_name:valkey\r\nvalkey_version:${v}\r\nredis_git_sha1:b0d5a0f5\r\nserver_mode:standalone\r\nexecutable:/usr/bin/valkey-server\r\n`;

describe('server identity', () => {
  it('names Valkey by valkey_version, not by the redis_version it keeps for compatibility', () => {
    const v8 = serverIdentity(valkey('8.0.1'));
    expect(v8).toMatchObject({
      product: 'valkey',
      version: '8.0.1',
      redisVersion: '7.2.4',
      label: 'Valkey 8.0.1',
      writes: { magic: 'REDIS', version: 11 },
      restoreAccepts: 11,
    });
    expect(serverIdentity(valkey('7.2.7')).writes).toEqual({ magic: 'REDIS', version: 11 });
    expect(serverIdentity(valkey('9.0.0')).writes).toEqual({ magic: 'VALKEY', version: 80 });
    // its RESTORE takes its own format back, and RDB ≤ 11; 12–79 are foreign to it
    expect(serverIdentity(valkey('9.1.2'))).toMatchObject({ restoreAccepts: 11, restoreAcceptsValkey: 80 });
    expect(serverIdentity(valkey('8.0.1')).restoreAcceptsValkey).toBeUndefined();
    expect(serverIdentity(valkey('9.1.2')).writes).toEqual({ magic: 'VALKEY', version: 80 });
    expect(serverIdentity(valkey('9.2.0')).writes).toEqual({ magic: 'VALKEY', version: 81 });
  });

  it('has import mode from Valkey 8.1 (an unstable build says 255.255.255), never on Redis', () => {
    expect(hasImportMode(serverIdentity(valkey('8.0.1')))).toBe(false);
    expect(hasImportMode(serverIdentity(valkey('8.1.0')))).toBe(true);
    expect(hasImportMode(serverIdentity(valkey('9.0.0')))).toBe(true);
    expect(hasImportMode(serverIdentity(valkey('255.255.255')))).toBe(true);
    expect(hasImportMode(serverIdentity('# Server\r\nredis_version:8.10.0\r\n'))).toBe(false);
    expect(hasImportMode(undefined)).toBe(false);
  });

  it('names Redis by redis_version, with the RDB each release writes', () => {
    expect(serverIdentity('# Server\r\nredis_version:7.0.15\r\n')).toMatchObject({
      product: 'redis',
      label: 'Redis 7.0.15',
      writes: { magic: 'REDIS', version: 10 },
      restoreAccepts: 10,
    });
    expect(redisRdbVersion('2.8.24')).toBe(6);
    expect(redisRdbVersion('7.4.1')).toBe(12);
    expect(redisRdbVersion('8.4.0')).toBe(12);
    expect(redisRdbVersion('8.6.0')).toBe(13);
    expect(redisRdbVersion('8.8.1')).toBe(14);
    expect(redisRdbVersion('8.10.0')).toBe(15);
  });

  it('names other compatible servers when they say who they are', () => {
    expect(
      serverIdentity('# Server\r\nredis_version:6.2.11\r\ndragonfly_version:df-v1.21.2\r\n'),
    ).toMatchObject({ product: 'dragonfly', version: '1.21.2', label: 'Dragonfly 1.21.2' });
    expect(
      serverIdentity('# Server\r\nredis_version:6.3.4\r\nexecutable:/opt/keydb/bin/keydb-server\r\n'),
    ).toMatchObject({ product: 'keydb', label: 'KeyDB 6.3.4' });
    // parsed INFO fields (the probe's form) read the same as the text
    expect(
      serverIdentity({ redis_version: '7.2.4', server_name: 'valkey', valkey_version: '8.0.1' }).label,
    ).toBe('Valkey 8.0.1');
  });
});
