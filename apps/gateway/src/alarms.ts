import type { AlarmRuleRow, Storage } from '@ferry/storage';
import type { Logger } from 'pino';
import type { FerryService } from './service.js';

const ATTEMPTS = 5;

export interface AlarmPayload {
  alarm: AlarmRuleRow['kind'];
  state: 'firing' | 'resolved';
  ruleId: number;
  taskId: string;
  taskName: string;
  message: string;
  at: string;
  figures: Record<string, number | string | null>;
}

/**
 * Alarm rules evaluated every second against the live tasks: a task interrupted or failed, lag
 * above N seconds for M seconds (and its clearing), a snapshot phase longer than H seconds. Each
 * alarm goes to the rule's webhook as a JSON POST, retried with backoff, every delivery recorded
 * (a delivery row and a task event).
 */
export class Alarms {
  private timer: NodeJS.Timeout | undefined;
  private rules: AlarmRuleRow[] = [];
  private rulesAt = 0;
  private readonly since = new Map<string, number>();
  private readonly firing = new Set<string>();
  private readonly pending = new Set<Promise<void>>();
  private readonly off: () => void;

  constructor(
    private readonly service: FerryService,
    private readonly storage: Storage,
    private readonly log: Logger,
    private readonly o: { everyMs?: number; retryBaseMs?: number } = {},
  ) {
    const onState = (s: { taskId: string; to: string; reason?: string }): void => {
      if (s.to !== 'failed') return;
      void this.forRules('task-failed', s.taskId, async (rule) =>
        this.send(rule, s.taskId, 'firing', `task ${s.taskId} failed${s.reason ? `: ${s.reason}` : ''}`, {}),
      );
    };
    // an interruption (a link or node lost, retried): once a minute per task at most
    const lastInterrupt = new Map<string, number>();
    const onError = (e: { taskId: string; message: string; retrying: boolean; shardId?: string }): void => {
      if (!e.retrying) return;
      const prev = lastInterrupt.get(e.taskId) ?? 0;
      if (Date.now() - prev < 60_000) return;
      lastInterrupt.set(e.taskId, Date.now());
      void this.forRules('task-failed', e.taskId, async (rule) =>
        this.send(
          rule,
          e.taskId,
          'firing',
          `task ${e.taskId} interrupted${e.shardId ? ` (${e.shardId})` : ''}: ${e.message}; retrying`,
          {},
        ),
      );
    };
    service.bus.on('state', onState);
    service.bus.on('task-error', onError);
    this.off = () => {
      service.bus.off('state', onState);
      service.bus.off('task-error', onError);
    };
  }

  start(): void {
    this.timer = setInterval(
      () => void this.evaluate().catch((err: unknown) => this.log.error({ err }, 'alarm evaluation failed')),
      this.o.everyMs ?? 1000,
    );
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.off();
    await Promise.all(this.pending);
  }

  /** The rules, re-read every 5 s (a new rule counts within one evaluation of that). */
  private async current(): Promise<AlarmRuleRow[]> {
    if (Date.now() - this.rulesAt > 5000) {
      this.rules = await this.storage.alarmRules();
      this.rulesAt = Date.now();
    }
    return this.rules;
  }

  invalidate(): void {
    this.rulesAt = 0;
  }

  private async forRules(
    kind: AlarmRuleRow['kind'],
    taskId: string,
    fn: (rule: AlarmRuleRow) => Promise<void>,
  ): Promise<void> {
    for (const rule of await this.current())
      if (rule.kind === kind && (rule.taskId === null || rule.taskId === taskId)) await fn(rule);
  }

  async evaluate(): Promise<void> {
    const now = Date.now();
    for (const rule of await this.current()) {
      if (rule.kind === 'task-failed') continue;
      for (const [taskId, task] of this.service.liveTasks()) {
        if (rule.taskId !== null && rule.taskId !== taskId) continue;
        const key = `${rule.id}:${taskId}`;
        if (rule.kind === 'lag') {
          const behind = this.service.secondsBehind(taskId);
          const over =
            behind !== null &&
            behind > rule.threshold &&
            ['full_sync', 'incremental_sync', 'paused'].includes(task.state);
          if (over) {
            const since = this.since.get(key) ?? now;
            this.since.set(key, since);
            if (!this.firing.has(key) && now - since >= rule.forSeconds * 1000) {
              this.firing.add(key);
              this.send(
                rule,
                taskId,
                'firing',
                `task ${taskId} is ${behind?.toFixed(1)} s behind its source (over ${rule.threshold} s for ${rule.forSeconds} s)`,
                {
                  lagSeconds: behind,
                  lagBytes: task.lagBytes(),
                },
              );
            }
          } else {
            this.since.delete(key);
            if (this.firing.delete(key))
              this.send(
                rule,
                taskId,
                'resolved',
                `task ${taskId} caught up (lag ${(behind ?? 0).toFixed(1)} s)`,
                { lagSeconds: behind, lagBytes: task.lagBytes() },
              );
          }
        } else if (rule.kind === 'snapshot-duration') {
          const started = this.service.fullSyncSince(taskId);
          if (started !== undefined && now - started > rule.threshold * 1000 && !this.firing.has(key)) {
            this.firing.add(key);
            this.send(
              rule,
              taskId,
              'firing',
              `task ${taskId} has been in its snapshot phase for over ${rule.threshold} s`,
              {
                seconds: Math.round((now - started) / 1000),
              },
            );
          }
        }
      }
    }
  }

  private send(
    rule: AlarmRuleRow,
    taskId: string,
    state: 'firing' | 'resolved',
    message: string,
    figures: AlarmPayload['figures'],
  ): void {
    const p = this.deliver(rule, taskId, state, message, figures).finally(() => this.pending.delete(p));
    this.pending.add(p);
  }

  private async deliver(
    rule: AlarmRuleRow,
    taskId: string,
    state: 'firing' | 'resolved',
    message: string,
    figures: AlarmPayload['figures'],
  ): Promise<void> {
    const task = await this.storage.getTask(taskId);
    const payload: AlarmPayload = {
      alarm: rule.kind,
      state,
      ruleId: rule.id,
      taskId,
      taskName: task?.name ?? taskId,
      message,
      at: new Date().toISOString(),
      figures,
    };
    const url = this.storage.unseal<string>(rule.webhook);
    const where = new URL(url).host;
    const row = await this.storage.addAlarmDelivery({
      ruleId: rule.id,
      taskId,
      state,
      attempts: 0,
      delivered: false,
      lastError: null,
      at: new Date(),
    });
    let lastError: string | null = null;
    for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
      try {
        const res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'user-agent': 'ferry-gateway' },
          body: JSON.stringify(payload),
          signal: AbortSignal.timeout(10_000),
        });
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        await this.storage.updateAlarmDelivery(row.id, {
          attempts: attempt,
          delivered: true,
          lastError: null,
        });
        await this.service.record(
          taskId,
          'alarm',
          `${rule.kind} alarm ${state}: ${message} (delivered to ${where}${attempt > 1 ? ` after ${attempt} attempts` : ''})`,
          {
            ruleId: rule.id,
            state,
            attempts: attempt,
          },
        );
        return;
      } catch (err) {
        lastError = (err as Error).message;
        await this.storage.updateAlarmDelivery(row.id, { attempts: attempt, lastError });
        if (attempt < ATTEMPTS)
          await new Promise((r) => setTimeout(r, (this.o.retryBaseMs ?? 500) * 2 ** (attempt - 1)));
      }
    }
    this.log.warn({ task: taskId, rule: rule.id, err: lastError }, 'alarm not delivered');
    await this.service.record(
      taskId,
      'alarm',
      `${rule.kind} alarm ${state}: ${message} — NOT delivered to ${where} after ${ATTEMPTS} attempts (${lastError})`,
      {
        ruleId: rule.id,
        state,
        attempts: ATTEMPTS,
        delivered: false,
      },
    );
  }
}
