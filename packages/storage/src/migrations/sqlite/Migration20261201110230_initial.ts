import { Migration } from '@mikro-orm/migrations';

export class Migration20261201110230_initial extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table \`ferry_alarm_delivery\` (\`id\` integer not null primary key autoincrement, \`rule_id\` integer not null, \`task_id\` text not null, \`state\` text not null, \`attempts\` integer not null, \`delivered\` integer not null, \`last_error\` text null, \`at\` datetime not null);`,
    );
    this.addSql(
      `create index \`ferry_alarm_delivery_rule_id_index\` on \`ferry_alarm_delivery\` (\`rule_id\`);`,
    );

    this.addSql(
      `create table \`ferry_alarm_rule\` (\`id\` integer not null primary key autoincrement, \`task_id\` text null, \`kind\` text not null, \`threshold\` double not null, \`for_seconds\` double not null, \`webhook\` text not null, \`created_at\` datetime not null);`,
    );

    this.addSql(
      `create table \`ferry_api_token\` (\`id\` integer not null primary key autoincrement, \`name\` text not null, \`sha256\` text not null, \`created_at\` datetime not null);`,
    );
    this.addSql(`create unique index \`ferry_api_token_sha256_unique\` on \`ferry_api_token\` (\`sha256\`);`);

    this.addSql(
      `create table \`ferry_check_report\` (\`id\` integer not null primary key autoincrement, \`task_id\` text not null, \`status\` text not null, \`duration_ms\` integer not null, \`checks\` json not null, \`created_at\` datetime not null);`,
    );
    this.addSql(`create index \`ferry_check_report_task_id_index\` on \`ferry_check_report\` (\`task_id\`);`);

    this.addSql(
      `create table \`ferry_check_result\` (\`id\` integer not null primary key autoincrement, \`report_id\` integer not null, \`check_id\` text not null, \`status\` text not null, \`message\` text not null, \`advice\` text null, \`shard_id\` text null, \`details\` json null);`,
    );
    this.addSql(
      `create index \`ferry_check_result_report_id_index\` on \`ferry_check_result\` (\`report_id\`);`,
    );

    this.addSql(
      `create table \`ferry_metric_sample\` (\`id\` integer not null primary key autoincrement, \`task_id\` text not null, \`at\` datetime not null, \`phase\` text not null, \`keys\` double not null, \`commands\` double not null, \`snapshot_bytes\` double not null, \`lag_bytes\` double not null, \`lag_ms\` integer null, \`errors\` integer not null);`,
    );
    this.addSql(
      `create index \`ferry_metric_sample_task_id_at_index\` on \`ferry_metric_sample\` (\`task_id\`, \`at\`);`,
    );

    this.addSql(
      `create table \`ferry_shard_run\` (\`id\` integer not null primary key autoincrement, \`task_id\` text not null, \`shard_id\` text not null, \`replid\` text not null, \`offset\` double not null, \`db\` integer not null, \`snapshot_done\` integer not null, \`phase\` text not null, \`counters\` json not null, \`updated_at\` datetime not null);`,
    );
    this.addSql(`create index \`ferry_shard_run_task_id_index\` on \`ferry_shard_run\` (\`task_id\`);`);
    this.addSql(
      `create unique index \`ferry_shard_run_task_id_shard_id_unique\` on \`ferry_shard_run\` (\`task_id\`, \`shard_id\`);`,
    );

    this.addSql(
      `create table \`ferry_task_event\` (\`id\` integer not null primary key autoincrement, \`task_id\` text not null, \`at\` datetime not null, \`kind\` text not null, \`message\` text not null, \`data\` json null);`,
    );
    this.addSql(
      `create index \`ferry_task_event_task_id_id_index\` on \`ferry_task_event\` (\`task_id\`, \`id\`);`,
    );

    this.addSql(
      `create table \`ferry_task\` (\`id\` text not null, \`name\` text not null, \`tags\` json not null, \`source_topology\` text not null, \`source_options\` text not null, \`target\` text not null, \`options\` json not null, \`running_mode\` text not null, \`scheduled_at\` datetime null, \`status\` text not null, \`warnings_acknowledged\` integer not null, \`error\` text null, \`created_at\` datetime not null, \`updated_at\` datetime not null, primary key (\`id\`));`,
    );
    this.addSql(`create index \`ferry_task_status_index\` on \`ferry_task\` (\`status\`);`);
  }
}
