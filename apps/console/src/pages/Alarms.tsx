import { type ReactNode, useState } from 'react';
import { useMutation, useQuery } from 'urql';
import { AlarmsQuery, CreateAlarmMutation, DeleteAlarmMutation } from '../api.js';
import { ErrorLine, errorText } from '../components/ui.js';
import type { AlarmKind } from '../gql/graphql.js';
import { when } from '../lib/format.js';

const KINDS: Array<{ kind: AlarmKind; label: string; threshold?: string; forSeconds?: string }> = [
  { kind: 'task_failed', label: 'Task failed or interrupted' },
  { kind: 'lag', label: 'Lag', threshold: 'Lag above (seconds)', forSeconds: 'For (seconds)' },
  { kind: 'snapshot_duration', label: 'Snapshot too long', threshold: 'Longer than (seconds)' },
];

export function Alarms(): ReactNode {
  const [r, refetch] = useQuery({ query: AlarmsQuery });
  const [, create] = useMutation(CreateAlarmMutation);
  const [, remove] = useMutation(DeleteAlarmMutation);
  const [kind, setKind] = useState<AlarmKind>('task_failed');
  const [taskId, setTaskId] = useState('');
  const [threshold, setThreshold] = useState('');
  const [forSeconds, setForSeconds] = useState('');
  const [webhook, setWebhook] = useState('');
  const [error, setError] = useState<string | null>(null);
  const spec = KINDS.find((k) => k.kind === kind) ?? KINDS[0];
  const names = new Map((r.data?.tasks.items ?? []).map((t) => [t.id, t.name]));
  const reload = (): void => refetch({ requestPolicy: 'network-only' });

  const add = async (): Promise<void> => {
    setError(null);
    const th = Number(threshold || 0);
    const fs = Number(forSeconds || 0);
    if (spec?.threshold && (!Number.isFinite(th) || th <= 0))
      return setError(`${spec.threshold}: a number above 0.`);
    if (!Number.isFinite(fs) || fs < 0) return setError('For (seconds): a number ≥ 0.');
    if (!/^https?:\/\/\S+$/.test(webhook)) return setError('The webhook is an http(s) URL.');
    const x = await create({
      input: {
        kind,
        webhook,
        ...(taskId ? { taskId } : {}),
        ...(spec?.threshold ? { threshold: th } : {}),
        ...(spec?.forSeconds ? { forSeconds: fs } : {}),
      },
    });
    if (x.error) return setError(errorText(x.error));
    // the URL is write-only: the field is emptied once it was sent
    setWebhook('');
    reload();
  };
  const del = async (id: string): Promise<void> => {
    const x = await remove({ id });
    if (x.error) setError(errorText(x.error));
    reload();
  };

  return (
    <main>
      <h1>Alarms</h1>
      <ErrorLine error={errorText(r.error) ?? error} />
      <section aria-labelledby="rules-h">
        <h2 id="rules-h">Rules</h2>
        <div className="scroll">
          <table>
            <thead>
              <tr>
                <th scope="col">Kind</th>
                <th scope="col">Task</th>
                <th scope="col">Threshold</th>
                <th scope="col">For</th>
                <th scope="col">Webhook</th>
                <th scope="col">Created</th>
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {r.data?.alarmRules.map((a) => (
                <tr key={a.id}>
                  <td>{KINDS.find((k) => k.kind === a.kind)?.label ?? a.kind}</td>
                  <td>{a.taskId ? (names.get(a.taskId) ?? a.taskId) : 'every task'}</td>
                  <td>{a.kind === 'task_failed' ? '—' : `${a.threshold} s`}</td>
                  <td>{a.kind === 'lag' ? `${a.forSeconds} s` : '—'}</td>
                  <td>{a.webhookHost}</td>
                  <td>{when(a.createdAt)}</td>
                  <td>
                    <button
                      type="button"
                      aria-label={`Delete alarm rule ${a.id}`}
                      onClick={() => void del(a.id)}
                    >
                      Delete
                    </button>
                  </td>
                </tr>
              ))}
              {r.data?.alarmRules.length === 0 && (
                <tr>
                  <td colSpan={7}>No alarm rule yet.</td>
                </tr>
              )}
            </tbody>
          </table>
        </div>
      </section>
      <section aria-labelledby="new-h">
        <h2 id="new-h">New rule</h2>
        <form
          className="row wrap"
          onSubmit={(e) => {
            e.preventDefault();
            void add();
          }}
        >
          <label>
            Kind
            <select value={kind} onChange={(e) => setKind(e.target.value as AlarmKind)}>
              {KINDS.map((k) => (
                <option key={k.kind} value={k.kind}>
                  {k.label}
                </option>
              ))}
            </select>
          </label>
          <label>
            Task
            <select value={taskId} onChange={(e) => setTaskId(e.target.value)}>
              <option value="">every task</option>
              {[...names].map(([id, name]) => (
                <option key={id} value={id}>
                  {name}
                </option>
              ))}
            </select>
          </label>
          {spec?.threshold && (
            <label>
              {spec.threshold}
              <input inputMode="numeric" value={threshold} onChange={(e) => setThreshold(e.target.value)} />
            </label>
          )}
          {spec?.forSeconds && (
            <label>
              {spec.forSeconds}
              <input inputMode="numeric" value={forSeconds} onChange={(e) => setForSeconds(e.target.value)} />
            </label>
          )}
          <label>
            Webhook URL
            <input
              type="url"
              value={webhook}
              autoComplete="off"
              onChange={(e) => setWebhook(e.target.value)}
              placeholder="https://…"
            />
          </label>
          <button type="submit" className="primary">
            Add alarm rule
          </button>
        </form>
        <p className="hint">The webhook URL is write-only: only its host is shown once saved.</p>
      </section>
      <section aria-labelledby="deliveries-h">
        <h2 id="deliveries-h">Deliveries</h2>
        <div className="scroll">
          <table>
            <thead>
              <tr>
                <th scope="col">At</th>
                <th scope="col">Rule</th>
                <th scope="col">Task</th>
                <th scope="col">State</th>
                <th scope="col">Delivered</th>
                <th scope="col">Attempts</th>
                <th scope="col">Last error</th>
              </tr>
            </thead>
            <tbody>
              {r.data?.alarmDeliveries.map((d) => (
                <tr key={d.id}>
                  <td>{when(d.at)}</td>
                  <td>{d.ruleId}</td>
                  <td>{names.get(d.taskId) ?? d.taskId}</td>
                  <td>{d.state}</td>
                  <td>{d.delivered ? 'yes' : 'no'}</td>
                  <td>{d.attempts}</td>
                  <td>{d.lastError ?? ''}</td>
                </tr>
              ))}
              {r.data?.alarmDeliveries.length === 0 && (
                <tr>
                  <td colSpan={7}>Nothing sent yet.</td>
                </tr>
              )}
            </tbody>
          </table>
        </div>
      </section>
    </main>
  );
}
