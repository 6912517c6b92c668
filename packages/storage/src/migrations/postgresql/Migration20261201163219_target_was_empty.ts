import { Migration } from '@mikro-orm/migrations';

export class Migration20261201163219_target_was_empty extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `alter table "ferry_shard_run" add column "target_was_empty" boolean not null default false;`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "ferry_shard_run" drop column "target_was_empty";`);
  }
}
