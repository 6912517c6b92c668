import { Migration } from '@mikro-orm/migrations';

export class Migration20261201110230_initial extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table "ferry_alarm_delivery" ("id" serial primary key, "rule_id" int not null, "task_id" varchar(100) not null, "state" varchar(20) not null, "attempts" int not null, "delivered" boolean not null, "last_error" text null, "at" timestamptz not null);`,
    );
    this.addSql(`create index "ferry_alarm_delivery_rule_id_index" on "ferry_alarm_delivery" ("rule_id");`);

    this.addSql(
      `create table "ferry_alarm_rule" ("id" serial primary key, "task_id" varchar(100) null, "kind" varchar(30) not null, "threshold" double precision not null, "for_seconds" double precision not null, "webhook" text not null, "created_at" timestamptz not null);`,
    );

    this.addSql(
      `create table "ferry_api_token" ("id" serial primary key, "name" varchar(100) not null, "sha256" varchar(64) not null, "created_at" timestamptz not null);`,
    );
    this.addSql(
      `alter table "ferry_api_token" add constraint "ferry_api_token_sha256_unique" unique ("sha256");`,
    );

    this.addSql(
      `create table "ferry_check_report" ("id" serial primary key, "task_id" varchar(100) not null, "status" varchar(10) not null, "duration_ms" int not null, "checks" jsonb not null, "created_at" timestamptz not null);`,
    );
    this.addSql(`create index "ferry_check_report_task_id_index" on "ferry_check_report" ("task_id");`);

    this.addSql(
      `create table "ferry_check_result" ("id" serial primary key, "report_id" int not null, "check_id" varchar(100) not null, "status" varchar(10) not null, "message" text not null, "advice" text null, "shard_id" varchar(100) null, "details" jsonb null);`,
    );
    this.addSql(`create index "ferry_check_result_report_id_index" on "ferry_check_result" ("report_id");`);

    this.addSql(
      `create table "ferry_metric_sample" ("id" serial primary key, "task_id" varchar(100) not null, "at" timestamptz not null, "phase" varchar(30) not null, "keys" double precision not null, "commands" double precision not null, "snapshot_bytes" double precision not null, "lag_bytes" double precision not null, "lag_ms" int null, "errors" int not null);`,
    );
    this.addSql(
      `create index "ferry_metric_sample_task_id_at_index" on "ferry_metric_sample" ("task_id", "at");`,
    );

    this.addSql(
      `create table "ferry_shard_run" ("id" serial primary key, "task_id" varchar(100) not null, "shard_id" varchar(100) not null, "replid" varchar(64) not null, "offset" double precision not null, "db" int not null, "snapshot_done" boolean not null, "phase" varchar(30) not null, "counters" jsonb not null, "updated_at" timestamptz not null);`,
    );
    this.addSql(`create index "ferry_shard_run_task_id_index" on "ferry_shard_run" ("task_id");`);
    this.addSql(
      `alter table "ferry_shard_run" add constraint "ferry_shard_run_task_id_shard_id_unique" unique ("task_id", "shard_id");`,
    );

    this.addSql(
      `create table "ferry_task_event" ("id" serial primary key, "task_id" varchar(100) not null, "at" timestamptz not null, "kind" varchar(50) not null, "message" text not null, "data" jsonb null);`,
    );
    this.addSql(`create index "ferry_task_event_task_id_id_index" on "ferry_task_event" ("task_id", "id");`);

    this.addSql(
      `create table "ferry_task" ("id" varchar(100) not null, "name" varchar(200) not null, "tags" jsonb not null, "source_topology" varchar(50) not null, "source_options" text not null, "target" text not null, "options" jsonb not null, "running_mode" varchar(20) not null, "scheduled_at" timestamptz null, "status" varchar(30) not null, "warnings_acknowledged" boolean not null, "error" text null, "created_at" timestamptz not null, "updated_at" timestamptz not null, constraint "ferry_task_pkey" primary key ("id"));`,
    );
    this.addSql(`create index "ferry_task_status_index" on "ferry_task" ("status");`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "ferry_alarm_delivery" cascade;`);

    this.addSql(`drop table if exists "ferry_alarm_rule" cascade;`);

    this.addSql(`drop table if exists "ferry_api_token" cascade;`);

    this.addSql(`drop table if exists "ferry_check_report" cascade;`);

    this.addSql(`drop table if exists "ferry_check_result" cascade;`);

    this.addSql(`drop table if exists "ferry_metric_sample" cascade;`);

    this.addSql(`drop table if exists "ferry_shard_run" cascade;`);

    this.addSql(`drop table if exists "ferry_task_event" cascade;`);

    this.addSql(`drop table if exists "ferry_task" cascade;`);
  }
}
