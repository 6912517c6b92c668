import { Migration } from '@mikro-orm/migrations';

export class Migration20261201113506_verify_runs extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table "ferry_verify_run" ("id" serial primary key, "task_id" varchar(100) not null, "mode" varchar(10) not null, "status" varchar(10) not null, "rounds" int not null, "keys_checked" double precision not null, "differences" double precision not null, "counts" jsonb not null, "per_round" jsonb not null, "details" jsonb not null, "error" text null, "started_at" timestamptz not null, "finished_at" timestamptz null);`,
    );
    this.addSql(`create index "ferry_verify_run_task_id_index" on "ferry_verify_run" ("task_id");`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "ferry_verify_run" cascade;`);
  }
}
