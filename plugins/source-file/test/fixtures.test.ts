/**
 * Every real RDB fixture restored from the file into a Debian 7.0 target, and the target compared
 * with what that redis-server itself loads from the same file. Files newer than the server (RDB 11,
 * 12) go by the rewrite path: there the check before "done" compares the target with the file.
 */
import { copyFileSync } from 'node:fs';
import {
  compareDeployments,
  formatDifferences,
  type RedisServer,
  rdbFixtures,
  serverScope,
} from '@ferry/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engine } from './helpers.js';

const servers = serverScope();
afterAll(() => servers.stop());

const all = rdbFixtures();
/** How each fixture was judged: against the server's own load, against the file, or not a restore case. */
const judged = { server: 0, file: 0, refused: 0, none: 0 };

describe('ferry restores every RDB fixture a real Redis loads, as that Redis loads it', () => {
  let loader: RedisServer;
  let target: RedisServer;
  beforeAll(async () => {
    loader = await servers.redis({ label: 'loader' });
    target = await servers.redis({ label: 'target' });
  });

  it.each(all.map((f) => [f.name, f] as const))('%s', async (_name, fixture) => {
    await loader.kill();
    copyFileSync(fixture.path, loader.rdbPath);
    let loadError: string | undefined;
    try {
      await loader.restart();
    } catch (err) {
      loadError = (err as Error).message;
    }
    // newer than this server, or Valkey 9's own format (which no Redis loads)
    const newer =
      loadError !== undefined &&
      ((/Can't handle RDB format version/i.test(loadError) && fixture.magic.startsWith('REDIS')) ||
        fixture.magic.startsWith('VALKEY'));
    // a file no Redis of this lineage loads (corrupt, a module's data, pre-GA types): not a restore case
    if (loadError !== undefined && !newer && !fixture.magic.startsWith('VALKEY')) {
      judged.none++;
      return;
    }

    await target.command('FLUSHALL');
    await target.command('FUNCTION', 'FLUSH').catch(() => undefined);
    const task = engine().createTask({
      id: `f${Date.now()}`,
      source: { topology: 'file', options: { files: [fixture.path] } },
      target: { endpoint: { host: target.host, port: target.port } },
      options: { conflict: 'replace' },
    });
    const warnings: string[] = [];
    task.events.on('task:warning', (w) => warnings.push(w.message));
    await task.start();
    expect(task.state).toBe('succeeded');
    expect(task.doneCheck?.ok, task.doneCheck?.problem).toBe(true);
    expect(task.doneCheck?.summary).toMatch(/in the file/);
    if (fixture.magic.startsWith('VALKEY'))
      // Valkey's hash with field TTLs, into Redis 7.0: the fields are written, their TTLs cannot be
      expect(warnings.join('\n')).toMatch(/hash field expirations need Redis 7\.4 or Valkey 9\.0/);

    if (newer) {
      // no server here loads it: the target holds what the index counted, and the check compared
      // the sampled keys (all of a fixture this size) with the file itself
      // (the index's scanner reads the Redis lineage only: it counted no key in the Valkey file)
      if (fixture.magic.startsWith('VALKEY'))
        expect(await target.command('HGETALL', 'hash2-hfe')).toEqual(['F1', 'V1', 'F2', 'V2', 'F3', 'V3']);
      else if (fixture.indexKeys !== undefined && fixture.indexKeys < 1000)
        expect(task.doneCheck?.sampled).toBeLessThanOrEqual(fixture.indexKeys);
      expect(task.doneCheck?.sampleDifferences).toBe(0);
      judged.file++;
      return;
    }
    const dbs = Array.from({ length: 16 }, (_, i) => i);
    expect(formatDifferences(await compareDeployments(loader, target, { dbs }))).toBe('');
    judged.server++;
  });

  it('judged nearly every fixture against a real load (not skipped)', () => {
    // the collection's distinct files: most load into Redis 7.0; RDB 11/12 ones and the Valkey 9
    // one are newer (judged against the file)
    expect(judged.server).toBeGreaterThanOrEqual(60);
    expect(judged.file).toBeGreaterThanOrEqual(6);
    expect(judged.refused).toBe(0);
    expect(judged.server + judged.file + judged.refused + judged.none).toBe(all.length);
  });
});
