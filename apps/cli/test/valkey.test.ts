/**
 * Valkey as a source and as a target, against a real Valkey build when this machine has one
 * (FERRY_REDIS_BUILDS/valkey-8.0.x, see the testkit's resolveRedisBuild); CI has none and says so.
 * What runs everywhere: the identity of every product from its INFO (core's server-identity test)
 * and the version verdicts (checks-builtin's runner test).
 */
import { compareDeployments, formatDifferences, populate, serverScope } from '@ferry/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { buildVersion, runFerry, url } from './cli.js';

const servers = serverScope();
afterAll(() => servers.stop());

const build = buildVersion('valkey-8.0');
const dbs = [0, 1];

describe.skipIf(!build)(
  `Valkey ${build ?? '(skipped: no Valkey build here; set FERRY_REDIS_BUILDS)'}`,
  () => {
    it('ferry check names it by its own version, and a migration each way with Redis 7.0 comes out exact', async () => {
      const valkey = await servers.redis({ label: 'valkey', version: 'valkey-8.0' });
      const redis = await servers.redis({ label: 'redis' });
      const check = await runFerry(['check', '--source', url(redis), '--target', url(valkey)]);
      expect(check.stdout + check.stderr).toContain(`Valkey ${build}`);
      expect(check.stdout + check.stderr).not.toContain('Redis 7.2.4');

      // Redis 7.0 → Valkey 8.0: RESTORE of RDB 10 payloads
      await populate(redis.client(), { dbs, randomKeys: 1000 });
      const to = await runFerry([
        'migrate',
        '--source',
        url(redis),
        '--target',
        url(valkey),
        '--until-synced',
      ]);
      expect(to.code, to.stderr).toBe(0);
      expect(formatDifferences(await compareDeployments(redis, valkey, { dbs }))).toBe('');

      // Valkey 8.0 → an empty Redis 7.0: RDB 11 is newer than 7.0 takes, so the rewrite path
      const back = await servers.redis({ label: 'redis-back' });
      const from = await runFerry([
        'migrate',
        '--source',
        url(valkey),
        '--target',
        url(back),
        '--until-synced',
      ]);
      expect(from.code, from.stderr).toBe(0);
      expect(formatDifferences(await compareDeployments(valkey, back, { dbs }))).toBe('');
    });
  },
);
