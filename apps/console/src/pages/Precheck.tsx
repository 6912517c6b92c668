import { type ReactNode, useState } from 'react';
import { useMutation, useQuery } from 'urql';
import { Link, useLocation } from 'wouter';
import {
  AcknowledgeMutation,
  RunPrecheckMutation,
  ScheduleMutation,
  StartMutation,
  TaskQuery,
} from '../api.js';
import { Badge, ErrorLine, errorText } from '../components/ui.js';
import { seconds, when } from '../lib/format.js';

const GROUPS = ['fail', 'warn', 'pass'] as const;
const TITLE = { fail: 'Failed', warn: 'Warnings', pass: 'Passed' };

export function Precheck({ id }: { id: string }): ReactNode {
  const [, navigate] = useLocation();
  const [r, refetch] = useQuery({ query: TaskQuery, variables: { id } });
  const [running, precheck] = useMutation(RunPrecheckMutation);
  const [, ack] = useMutation(AcknowledgeMutation);
  const [, start] = useMutation(StartMutation);
  const [, schedule] = useMutation(ScheduleMutation);
  const [error, setError] = useState<string | null>(null);
  const t = r.data?.task;
  const report = t?.checkReport;
  const allowed = new Set(t?.allowedActions ?? []);
  const reload = (): void => refetch({ requestPolicy: 'network-only' });

  const run = async (): Promise<void> => {
    setError(null);
    const x = await precheck({ id });
    if (x.error) setError(errorText(x.error));
    reload();
  };
  const acknowledge = async (): Promise<void> => {
    setError(null);
    const x = await ack({ id });
    if (x.error) setError(errorText(x.error));
    reload();
  };
  const go = async (): Promise<void> => {
    setError(null);
    const x =
      t?.runningMode === 'scheduled' && t.scheduledAt && new Date(t.scheduledAt).getTime() > Date.now()
        ? await schedule({ id, at: t.scheduledAt })
        : await start({ id });
    if (x.error) {
      setError(errorText(x.error));
      reload();
    } else navigate(`/tasks/${encodeURIComponent(id)}`);
  };
  const mustAck = report?.status === 'warn' && !t?.warningsAcknowledged;
  const scheduled =
    t?.runningMode === 'scheduled' && t.scheduledAt && new Date(t.scheduledAt).getTime() > Date.now();

  return (
    <main>
      <p className="crumbs">
        <Link href="/tasks">Tasks</Link> ›{' '}
        <Link href={`/tasks/${encodeURIComponent(id)}`}>{t?.name ?? id}</Link> › Precheck
      </p>
      <h1>Precheck{t ? `: ${t.name}` : ''}</h1>
      <ErrorLine error={errorText(r.error)} />
      {t && (
        <p>
          State:{' '}
          <span role="status">
            <Badge value={t.status} />
          </span>
          {scheduled ? ` — scheduled for ${when(t.scheduledAt)}` : ''}
        </p>
      )}
      <div className="buttons">
        <button
          type="button"
          onClick={() => void run()}
          disabled={running.fetching || !allowed.has('precheck')}
        >
          {running.fetching ? 'Running precheck…' : 'Run precheck'}
        </button>
        <button
          type="button"
          onClick={() => void acknowledge()}
          disabled={!allowed.has('acknowledgeWarnings')}
        >
          Acknowledge warnings
        </button>
        <button type="button" className="primary" onClick={() => void go()} disabled={!allowed.has('start')}>
          {scheduled ? 'Start (at the scheduled time)' : 'Start'}
        </button>
      </div>
      {t && !allowed.has('start') && report && (
        <p className="hint" id="start-why">
          {report.status === 'fail'
            ? 'Start stays disabled while a check fails: fix what it says, then run the precheck again.'
            : mustAck
              ? 'Acknowledge the warnings to start.'
              : `The task is ${t.status.replaceAll('_', ' ')}.`}
        </p>
      )}
      <ErrorLine error={error} />
      {report ? (
        <section aria-label="Precheck results">
          <p>
            Result: <Badge value={report.status} /> in {seconds(report.durationMs / 1000)}, {when(report.at)}
          </p>
          {GROUPS.map((g) => {
            const items = report.results.filter((x) => x.status === g);
            if (items.length === 0) return null;
            return (
              <section key={g} className={`group ${g}`}>
                <h2>
                  {TITLE[g]} ({items.length})
                </h2>
                <ul>
                  {items.map((x) => (
                    <li key={`${x.checkId}-${x.shardId ?? ''}`}>
                      <strong>{x.checkId}</strong>
                      {x.shardId ? ` (${x.shardId})` : ''}: {x.message}
                      {x.advice && <div className="advice">Advice: {x.advice}</div>}
                    </li>
                  ))}
                </ul>
              </section>
            );
          })}
        </section>
      ) : (
        t && <p>No precheck yet: run it to see what would block or slow the migration.</p>
      )}
    </main>
  );
}
