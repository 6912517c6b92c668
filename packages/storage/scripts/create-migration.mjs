// pnpm --filter @ferry/storage migration:create [name]: after an entity change (and `pnpm build`),
// writes the migration of each dialect that brings a database at the last checked-in migration to
// the entities: SQLite on a temporary file, PostgreSQL on a throwaway server from the testkit.
// Add the new classes to src/migrations/index.ts; the drift test fails until both are there.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MikroORM } from '@mikro-orm/core';
import { LibSqlDriver } from '@mikro-orm/libsql';
import { Migrator } from '@mikro-orm/migrations';
import { PostgreSqlDriver } from '@mikro-orm/postgresql';
import { startPostgres } from '../../testkit/dist/index.js';
import { ENTITIES } from '../dist/entities.js';
import { migrationsFor } from '../dist/migrations/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const name = (process.argv[2] ?? 'change').replace(/\W+/g, '_'); // part of a class name
const pg = await startPostgres();
try {
  for (const dialect of ['sqlite', 'postgresql']) {
    const path = join(here, '..', 'src', 'migrations', dialect);
    const base = {
      entities: ENTITIES,
      extensions: [Migrator],
      migrations: { path, pathTs: path, emit: 'ts', migrationsList: migrationsFor(dialect), snapshot: false },
    };
    const orm =
      dialect === 'sqlite'
        ? await MikroORM.init({
            ...base,
            driver: LibSqlDriver,
            dbName: join(mkdtempSync(join(tmpdir(), 'ferry-mig-')), 'x.db'),
          })
        : await MikroORM.init({ ...base, driver: PostgreSqlDriver, clientUrl: pg.url });
    const migrator = orm.getMigrator();
    await migrator.up();
    // a fresh migrator with the file path (the list above is what is applied, not where files go)
    const result = await migrator.createMigration(path, false, false, name);
    console.log(result.diff.up.length ? `${dialect}: wrote ${result.fileName}` : `${dialect}: no change`);
    await orm.close(true);
  }
} finally {
  await pg.stop();
}
