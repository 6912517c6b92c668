import type { MigrationObject } from '@mikro-orm/core';
import { Migration20261201110230_initial as PgInitial } from './postgresql/Migration20261201110230_initial.js';
import { Migration20261201113506_verify_runs as PgVerifyRuns } from './postgresql/Migration20261201113506_verify_runs.js';
import { Migration20261201163219_target_was_empty as PgTargetWasEmpty } from './postgresql/Migration20261201163219_target_was_empty.js';
import { Migration20261201110230_initial as SqliteInitial } from './sqlite/Migration20261201110230_initial.js';
import { Migration20261201113506_verify_runs as SqliteVerifyRuns } from './sqlite/Migration20261201113506_verify_runs.js';
import { Migration20261201163219_target_was_empty as SqliteTargetWasEmpty } from './sqlite/Migration20261201163219_target_was_empty.js';

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
  { name: 'Migration20261201163219_target_was_empty', class: SqliteTargetWasEmpty },
];
const POSTGRESQL: MigrationObject[] = [
  { name: 'Migration20261201110230_initial', class: PgInitial },
  { name: 'Migration20261201113506_verify_runs', class: PgVerifyRuns },
  { name: 'Migration20261201163219_target_was_empty', class: PgTargetWasEmpty },
];
