import { Migration } from '@mikro-orm/migrations';

export class Migration20261201113506_verify_runs extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table \`ferry_verify_run\` (\`id\` integer not null primary key autoincrement, \`task_id\` text not null, \`mode\` text not null, \`status\` text not null, \`rounds\` integer not null, \`keys_checked\` double not null, \`differences\` double not null, \`counts\` json not null, \`per_round\` json not null, \`details\` json not null, \`error\` text null, \`started_at\` datetime not null, \`finished_at\` datetime null);`,
    );
    this.addSql(`create index \`ferry_verify_run_task_id_index\` on \`ferry_verify_run\` (\`task_id\`);`);
  }
}
