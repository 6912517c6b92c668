import type { MigrationObject } from '@mikro-orm/core';
import { Migration20261201110230_initial as PgInitial } from './postgresql/Migration20261201110230_initial.js';
import { Migration20261201113506_verify_runs as PgVerifyRuns } from './postgresql/Migration20261201113506_verify_runs.js';
import { Migration20261201110230_initial as SqliteInitial } from './sqlite/Migration20261201110230_initial.js';
import { Migration20261201113506_verify_runs as SqliteVerifyRuns } from './sqlite/Migration20261201113506_verify_runs.js';

/**
 * The checked-in migrations of each dialect, in order. `pnpm --filter @ferry/storage
 * migration:create <name>` writes the next ones after an entity change; list them here (the
 * storage tests fail while the entities and these migrations disagree).
 */
export function migrationsFor(dialect: 'sqlite' | 'postgresql'): MigrationObject[] {
  return dialect === 'sqlite' ? SQLITE : POSTGRESQL;
}

const SQLITE: MigrationObject[] = [
  { name: 'Migration20261201110230_initial', class: SqliteInitial },
  { name: 'Migration20261201113506_verify_runs', class: SqliteVerifyRuns },
];
const POSTGRESQL: MigrationObject[] = [
  { name: 'Migration20261201110230_initial', class: PgInitial },
  { name: 'Migration20261201113506_verify_runs', class: PgVerifyRuns },
];
