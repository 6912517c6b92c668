import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { CheckpointStore, CheckReport, ShardMetrics, TaskCheckpoint } from '@ferry/core';
import { FerryError } from '@ferry/errors';
import { type EntityManager, MikroORM, type Options } from '@mikro-orm/core';
import { Migrator } from '@mikro-orm/migrations';
import {
  type AlarmDeliveryRow,
  AlarmDeliverySchema,
  type AlarmRuleRow,
  AlarmRuleSchema,
  type ApiTokenRow,
  ApiTokenSchema,
  type CheckReportRow,
  CheckReportSchema,
  type CheckResultRow,
  CheckResultSchema,
  ENTITIES,
  type MetricSampleRow,
  MetricSampleSchema,
  type ShardRunRow,
  ShardRunSchema,
  type TaskEventRow,
  TaskEventSchema,
  type TaskRow,
  TaskSchema,
  type VerifyRunRow,
  VerifyRunSchema,
} from './entities.js';
import { migrationsFor } from './migrations/index.js';
import { SecretBox } from './secrets.js';

export interface StorageOptions {
  /** `postgres://…` for PostgreSQL; otherwise SQLite at `sqlitePath`. Default: FERRY_DATABASE_URL. */
  url?: string | undefined;
  /** SQLite file. Default `./data/ferry.db`. */
  sqlitePath?: string;
  /** Key for secrets at rest. Default: FERRY_SECRET_KEY, else `<data dir>/secret.key` (created 0600). */
  secretKey?: string | undefined;
  keyFile?: string;
  debug?: boolean;
}

export type StoredTask = TaskRow;

/** Ferry's persistent state: tasks, shard positions, prechecks, events, metrics, alarms, tokens. */
export class Storage {
  readonly dialect: 'sqlite' | 'postgresql';

  private constructor(
    private readonly orm: MikroORM,
    readonly secrets: SecretBox,
    dialect: 'sqlite' | 'postgresql',
  ) {
    this.dialect = dialect;
  }

  /** Opens (creating the SQLite file on first start) and applies the checked-in migrations. */
  static async open(o: StorageOptions = {}): Promise<Storage> {
    const url = o.url ?? process.env.FERRY_DATABASE_URL;
    const pg = Boolean(url && /^postgres(ql)?:\/\//.test(url));
    if (url && !pg)
      throw new FerryError(
        'CONFIG_INVALID',
        `FERRY_DATABASE_URL must be postgres://…; got "${url.split(':')[0]}:…"`,
      );
    const sqlitePath = resolve(o.sqlitePath ?? join('data', 'ferry.db'));
    const dataDir = pg ? resolve('data') : dirname(sqlitePath);
    if (!pg) mkdirSync(dataDir, { recursive: true });
    const dialect = pg ? 'postgresql' : 'sqlite';
    const common: Partial<Options> = {
      entities: ENTITIES,
      // registered here: MikroORM would look for the package from the working directory
      extensions: [Migrator],
      debug: Boolean(o.debug),
      allowGlobalContext: false,
      migrations: {
        migrationsList: migrationsFor(dialect),
        transactional: true,
        snapshot: false,
        silent: true,
      },
      discovery: { warnWhenNoEntities: false },
    };
    let orm: MikroORM;
    try {
      if (pg) {
        const { PostgreSqlDriver } = await import('@mikro-orm/postgresql');
        orm = await MikroORM.init({ ...common, driver: PostgreSqlDriver, clientUrl: url } as Options);
      } else {
        const { LibSqlDriver } = await import('@mikro-orm/libsql');
        orm = await MikroORM.init({ ...common, driver: LibSqlDriver, dbName: sqlitePath } as Options);
      }
    } catch (err) {
      throw new FerryError(
        'CONNECTION_FAILED',
        `cannot open the ${dialect} database${pg ? '' : ` ${sqlitePath}`}: ${(err as Error).message}`,
        { cause: err },
      );
    }
    await orm.getMigrator().up();
    const secrets = SecretBox.load({
      env: o.secretKey ?? process.env.FERRY_SECRET_KEY,
      keyFile: o.keyFile ?? join(dataDir, 'secret.key'),
    });
    return new Storage(orm, secrets, dialect);
  }

  private em(): EntityManager {
    return this.orm.em.fork();
  }

  /** The SQL a schema update would run (empty when the migrations match the entities). */
  async schemaDrift(): Promise<string> {
    return (await this.orm.getSchemaGenerator().getUpdateSchemaSQL({ wrap: false })).trim();
  }

  async close(): Promise<void> {
    await this.orm.close(true);
  }

  // ------------------------------------------------------------------ tasks

  async insertTask(row: Omit<TaskRow, 'createdAt' | 'updatedAt'>): Promise<TaskRow> {
    const em = this.em();
    const now = new Date();
    const t = em.create(TaskSchema, { ...row, createdAt: now, updatedAt: now });
    await em.persistAndFlush(t);
    return t;
  }

  async updateTask(id: string, patch: Partial<Omit<TaskRow, 'id' | 'createdAt'>>): Promise<TaskRow | null> {
    const em = this.em();
    const t = await em.findOne(TaskSchema, { id });
    if (!t) return null;
    em.assign(t, { ...patch, updatedAt: new Date() });
    await em.flush();
    return t;
  }

  getTask(id: string): Promise<TaskRow | null> {
    return this.em().findOne(TaskSchema, { id });
  }

  async listTasks(
    filter: { status?: string; tag?: string; name?: string } = {},
    page: { offset?: number; limit?: number } = {},
  ): Promise<{ items: TaskRow[]; total: number }> {
    const where: Record<string, unknown> = {};
    if (filter.status) where.status = filter.status;
    if (filter.name) where.name = { $like: `%${filter.name.replace(/[%_]/g, '\\$&')}%` };
    const em = this.em();
    let items = await em.find(TaskSchema, where, { orderBy: { createdAt: 'desc' } });
    // tags are JSON: filtered here (a handful of tasks per deployment)
    if (filter.tag) items = items.filter((t) => t.tags.includes(filter.tag as string));
    const total = items.length;
    const offset = page.offset ?? 0;
    return { items: items.slice(offset, offset + (page.limit ?? 50)), total };
  }

  async deleteTask(id: string): Promise<boolean> {
    const em = this.em();
    const n = await em.nativeDelete(TaskSchema, { id });
    await em.nativeDelete(ShardRunSchema, { taskId: id });
    await em.nativeDelete(TaskEventSchema, { taskId: id });
    await em.nativeDelete(MetricSampleSchema, { taskId: id });
    await em.nativeDelete(VerifyRunSchema, { taskId: id });
    const reports = await em.find(CheckReportSchema, { taskId: id });
    if (reports.length)
      await em.nativeDelete(CheckResultSchema, { reportId: { $in: reports.map((r) => r.id) } });
    await em.nativeDelete(CheckReportSchema, { taskId: id });
    return n > 0;
  }

  /** Encrypts JSON (endpoints with passwords) for a column. */
  seal(value: unknown): string {
    return this.secrets.encrypt(JSON.stringify(value));
  }

  unseal<T>(text: string): T {
    return JSON.parse(this.secrets.decrypt(text)) as T;
  }

  // ------------------------------------------------------------------ shards (the checkpoint port)

  /** The engine's checkpoint port over the shard table: a restarted service resumes from it. */
  checkpoints(): CheckpointStore {
    return {
      load: async (taskId) => {
        const rows = await this.em().find(ShardRunSchema, { taskId });
        const saved = rows.filter((r) => r.replid !== '' || r.snapshotDone);
        if (saved.length === 0) return undefined;
        const out: TaskCheckpoint = {};
        for (const r of saved)
          out[r.shardId] = {
            replid: r.replid,
            offset: r.offset,
            db: r.db,
            snapshotDone: r.snapshotDone,
            ...(r.targetWasEmpty ? { targetWasEmpty: true } : {}),
            updatedAt: r.updatedAt.getTime(),
          };
        return out;
      },
      save: async (taskId, checkpoint) => {
        const em = this.em();
        const rows = await em.find(ShardRunSchema, { taskId });
        for (const [shardId, c] of Object.entries(checkpoint)) {
          const row = rows.find((r) => r.shardId === shardId);
          const data = {
            replid: c.replid,
            offset: c.offset,
            db: c.db ?? 0,
            snapshotDone: c.snapshotDone,
            targetWasEmpty: c.targetWasEmpty === true,
            updatedAt: new Date(c.updatedAt),
          };
          if (row) em.assign(row, data);
          else
            em.persist(
              em.create(ShardRunSchema, { taskId, shardId, phase: 'connecting', counters: {}, ...data }),
            );
        }
        await em.flush();
      },
      clear: async (taskId) => {
        const em = this.em();
        const rows = await em.find(ShardRunSchema, { taskId });
        for (const r of rows)
          em.assign(r, { replid: '', offset: 0, db: 0, snapshotDone: false, updatedAt: new Date() });
        await em.flush();
      },
    };
  }

  /** The shards' last metrics (what `task.shards` returns). */
  async saveShardMetrics(taskId: string, metrics: ShardMetrics[]): Promise<void> {
    const em = this.em();
    const rows = await em.find(ShardRunSchema, { taskId });
    for (const m of metrics) {
      const counters = { ...m } as Record<string, unknown>;
      const row = rows.find((r) => r.shardId === m.shardId);
      if (row) em.assign(row, { phase: m.phase, counters, updatedAt: new Date() });
      else
        em.persist(
          em.create(ShardRunSchema, {
            taskId,
            shardId: m.shardId,
            replid: '',
            offset: 0,
            db: 0,
            snapshotDone: false,
            targetWasEmpty: false,
            phase: m.phase,
            counters,
            updatedAt: new Date(),
          }),
        );
    }
    await em.flush();
  }

  shards(taskId: string): Promise<ShardRunRow[]> {
    return this.em().find(ShardRunSchema, { taskId }, { orderBy: { shardId: 'asc' } });
  }

  // ------------------------------------------------------------------ prechecks

  async saveCheckReport(taskId: string, report: CheckReport): Promise<number> {
    const em = this.em();
    const row = em.create(CheckReportSchema, {
      taskId,
      status: report.status,
      durationMs: report.durationMs,
      checks: report.checks as unknown as Array<Record<string, unknown>>,
      createdAt: new Date(),
    });
    await em.persistAndFlush(row);
    for (const r of report.results)
      em.persist(
        em.create(CheckResultSchema, {
          reportId: row.id,
          checkId: r.checkId,
          status: r.status,
          message: r.message,
          advice: r.advice ?? null,
          shardId: r.shardId ?? null,
          details: r.details ?? null,
        }),
      );
    await em.flush();
    return row.id;
  }

  async lastCheckReport(
    taskId: string,
  ): Promise<{ report: CheckReportRow; results: CheckResultRow[] } | null> {
    const em = this.em();
    const report = await em.findOne(CheckReportSchema, { taskId }, { orderBy: { id: 'desc' } });
    if (!report) return null;
    const results = await em.find(CheckResultSchema, { reportId: report.id }, { orderBy: { id: 'asc' } });
    return { report, results };
  }

  // ------------------------------------------------------------------ events and metrics

  async addEvent(
    taskId: string,
    kind: string,
    message: string,
    data?: Record<string, unknown>,
  ): Promise<TaskEventRow> {
    const em = this.em();
    const row = em.create(TaskEventSchema, { taskId, at: new Date(), kind, message, data: data ?? null });
    await em.persistAndFlush(row);
    return row;
  }

  async events(
    taskId: string,
    page: { offset?: number; limit?: number } = {},
    newestFirst = false,
  ): Promise<{ items: TaskEventRow[]; total: number }> {
    const [items, total] = await this.em().findAndCount(
      TaskEventSchema,
      { taskId },
      { orderBy: { id: newestFirst ? 'desc' : 'asc' }, offset: page.offset ?? 0, limit: page.limit ?? 100 },
    );
    return { items, total };
  }

  async addMetric(row: Omit<MetricSampleRow, 'id'>): Promise<void> {
    const em = this.em();
    await em.persistAndFlush(em.create(MetricSampleSchema, row));
  }

  metrics(taskId: string, from: Date, to: Date): Promise<MetricSampleRow[]> {
    return this.em().find(
      MetricSampleSchema,
      { taskId, at: { $gte: from, $lte: to } },
      { orderBy: { at: 'asc' } },
    );
  }

  // ------------------------------------------------------------------ alarms and tokens

  async addAlarmRule(row: Omit<AlarmRuleRow, 'id' | 'createdAt'>): Promise<AlarmRuleRow> {
    const em = this.em();
    const r = em.create(AlarmRuleSchema, { ...row, createdAt: new Date() });
    await em.persistAndFlush(r);
    return r;
  }

  alarmRules(): Promise<AlarmRuleRow[]> {
    return this.em().find(AlarmRuleSchema, {}, { orderBy: { id: 'asc' } });
  }

  /** Deletes a rule and its deliveries; false when there is no such rule. */
  async deleteAlarmRule(id: number): Promise<boolean> {
    const em = this.em();
    const r = await em.findOne(AlarmRuleSchema, { id });
    if (!r) return false;
    await em.nativeDelete(AlarmDeliverySchema, { ruleId: id });
    await em.removeAndFlush(r);
    return true;
  }

  /** The newest deliveries first, of one rule, one task or all. */
  alarmDeliveries(filter: { ruleId?: number; taskId?: string }, limit = 100): Promise<AlarmDeliveryRow[]> {
    return this.em().find(
      AlarmDeliverySchema,
      {
        ...(filter.ruleId !== undefined ? { ruleId: filter.ruleId } : {}),
        ...(filter.taskId !== undefined ? { taskId: filter.taskId } : {}),
      },
      { orderBy: { id: 'desc' }, limit },
    );
  }

  async addAlarmDelivery(row: Omit<AlarmDeliveryRow, 'id'>): Promise<AlarmDeliveryRow> {
    const em = this.em();
    const r = em.create(AlarmDeliverySchema, row);
    await em.persistAndFlush(r);
    return r;
  }

  async updateAlarmDelivery(id: number, patch: Partial<AlarmDeliveryRow>): Promise<void> {
    const em = this.em();
    const r = await em.findOne(AlarmDeliverySchema, { id });
    if (!r) return;
    em.assign(r, patch);
    await em.flush();
  }

  /** Makes an API token: returned once, only its SHA-256 kept. */
  async createToken(name: string): Promise<string> {
    const token = `ferry_${randomBytes(24).toString('base64url')}`;
    await this.addToken(name, createHash('sha256').update(token).digest('hex'));
    return token;
  }

  // ------------------------------------------------------------------ verifications

  async startVerifyRun(taskId: string, mode: string): Promise<VerifyRunRow> {
    const em = this.em();
    const r = em.create(VerifyRunSchema, {
      taskId,
      mode,
      status: 'running',
      rounds: 0,
      keysChecked: 0,
      differences: 0,
      counts: {},
      perRound: [],
      details: [],
      error: null,
      startedAt: new Date(),
      finishedAt: null,
    });
    await em.persistAndFlush(r);
    return r;
  }

  async finishVerifyRun(id: number, patch: Partial<VerifyRunRow>): Promise<void> {
    const em = this.em();
    const r = await em.findOne(VerifyRunSchema, { id });
    if (!r) return;
    em.assign(r, { ...patch, finishedAt: new Date() });
    await em.flush();
  }

  verifyRuns(taskId: string): Promise<VerifyRunRow[]> {
    return this.em().find(VerifyRunSchema, { taskId }, { orderBy: { id: 'desc' } });
  }

  async addToken(name: string, sha256: string): Promise<ApiTokenRow> {
    const em = this.em();
    const r = em.create(ApiTokenSchema, { name, sha256, createdAt: new Date() });
    await em.persistAndFlush(r);
    return r;
  }

  async hasToken(sha256: string): Promise<boolean> {
    return (await this.em().count(ApiTokenSchema, { sha256 })) > 0;
  }
}
