import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type Postgres, postgresUnavailableReason, startPostgres } from '../src/index.js';
import { expectAllDead } from './helpers.js';

const unavailable = postgresUnavailableReason();

describe('startPostgres', () => {
  let pg: Postgres | undefined;
  afterAll(async () => {
    await pg?.stop();
  });

  it('starts a throwaway PostgreSQL on a free port and stops it by PID', async (ctx) => {
    if (unavailable) {
      console.warn(`skipping PostgreSQL: ${unavailable}`);
      ctx.skip();
    }
    pg = await startPostgres();
    expect(pg.url).toBe(`postgres://ferry@127.0.0.1:${pg.port}/ferry`);
    // a real query through psql, the client that ships with the server
    const psql = ['/usr/bin/psql', join(pg.dataDir, '..', 'psql')].find(existsSync);
    if (psql) {
      const out = execFileSync(psql, [pg.url, '-tAc', 'select current_database(), 40 + 2'], {
        encoding: 'utf8',
      });
      expect(out.trim()).toBe('ferry|42');
    }
    const pid = pg.pid;
    const dir = pg.dir;
    await pg.stop();
    await expectAllDead([pid]);
    expect(existsSync(dir)).toBe(false);
  });
});
