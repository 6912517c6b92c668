import { type ReactNode, useEffect, useState } from 'react';
import { useQuery } from 'urql';
import { Link, useLocation } from 'wouter';
import { TasksQuery } from '../api.js';
import { Badge, ErrorLine, errorText } from '../components/ui.js';
import type { TaskStatus } from '../gql/graphql.js';
import { ACTION_LABEL, buttonActions, useTaskActions } from '../lib/actions.js';
import { bytes, num, seconds, when, words } from '../lib/format.js';

const STATUSES: TaskStatus[] = [
  'created',
  'checking',
  'check_passed',
  'check_failed',
  'scheduled',
  'preparing',
  'full_sync',
  'incremental_sync',
  'paused',
  'completing',
  'succeeded',
  'stopping',
  'stopped',
  'failed',
  'retrying',
];
const PAGE = 20;

export function Tasks(): ReactNode {
  const [, navigate] = useLocation();
  const [status, setStatus] = useState('');
  const [tag, setTag] = useState('');
  const [name, setName] = useState('');
  const [offset, setOffset] = useState(0);
  const [confirm, setConfirm] = useState<string | null>(null);
  const actions = useTaskActions();
  const [r, refetch] = useQuery({
    query: TasksQuery,
    variables: {
      filter: {
        ...(status ? { status: status as TaskStatus } : {}),
        ...(tag ? { tag } : {}),
        ...(name ? { name } : {}),
      },
      page: { offset, limit: PAGE },
    },
  });
  // live: the list is read again every 2 s (state, phase, lag and the allowed actions change)
  useEffect(() => {
    const t = setInterval(() => refetch({ requestPolicy: 'network-only' }), 2000);
    return () => clearInterval(t);
  }, [refetch]);
  const total = r.data?.tasks.total ?? 0;
  const act = async (action: string, id: string): Promise<void> => {
    if (action === 'delete' && confirm !== id) {
      setConfirm(id);
      return;
    }
    setConfirm(null);
    if (await actions.run(action, id)) refetch({ requestPolicy: 'network-only' });
  };
  return (
    <main>
      <div className="toolbar">
        <h1>Tasks</h1>
        <button type="button" className="primary" onClick={() => navigate('/tasks/new')}>
          Create task
        </button>
      </div>
      <form className="filters" onSubmit={(e) => e.preventDefault()} aria-label="Filter tasks">
        <label>
          Status
          <select
            value={status}
            onChange={(e) => {
              setStatus(e.target.value);
              setOffset(0);
            }}
          >
            <option value="">any</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {words(s)}
              </option>
            ))}
          </select>
        </label>
        <label>
          Tag
          <input
            value={tag}
            onChange={(e) => {
              setTag(e.target.value.trim());
              setOffset(0);
            }}
          />
        </label>
        <label>
          Name contains
          <input
            value={name}
            onChange={(e) => {
              setName(e.target.value);
              setOffset(0);
            }}
          />
        </label>
      </form>
      <ErrorLine error={errorText(r.error) ?? actions.error} />
      <div className="scroll">
        <table>
          <caption className="sr-only">Migration tasks</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Tags</th>
              <th scope="col">Status</th>
              <th scope="col">Phase</th>
              <th scope="col">Progress</th>
              <th scope="col">Lag</th>
              <th scope="col">Created</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {r.data?.tasks.items.map((t) => {
              // a task this gateway runs reports its own phase; any other has none going on
              const percent = t.progress?.percent ?? (t.status === 'succeeded' ? 100 : null);
              const phase = t.progress?.phase ?? (t.status === 'succeeded' ? 'done' : 'idle');
              return (
                <tr key={t.id}>
                  <td>
                    <Link href={`/tasks/${encodeURIComponent(t.id)}`}>{t.name}</Link>
                  </td>
                  <td>{t.tags.join(', ')}</td>
                  <td>
                    <Badge value={t.status} />
                  </td>
                  <td>{words(phase)}</td>
                  <td>
                    {percent === null ? '—' : `${num(percent)} %`}
                    <span className="hint"> {num(t.shards.reduce((n, s) => n + s.keys, 0))} keys</span>
                  </td>
                  <td>
                    {t.progress?.lagSeconds !== null && t.progress?.lagSeconds !== undefined
                      ? `${seconds(t.progress.lagSeconds)} · `
                      : ''}
                    {bytes(t.lagBytes)}
                  </td>
                  <td>{when(t.createdAt)}</td>
                  <td>
                    <div className="actions">
                      {buttonActions(t.allowedActions).map((a) => (
                        <button
                          key={a}
                          type="button"
                          disabled={actions.busy}
                          aria-label={`${confirm === t.id && a === 'delete' ? 'Confirm delete' : ACTION_LABEL[a]} ${t.name}`}
                          onClick={() => void act(a, t.id)}
                        >
                          {confirm === t.id && a === 'delete' ? 'Confirm delete' : ACTION_LABEL[a]}
                        </button>
                      ))}
                    </div>
                  </td>
                </tr>
              );
            })}
            {r.data && r.data.tasks.items.length === 0 && (
              <tr>
                <td colSpan={8}>No task here yet: Create task starts the wizard.</td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
      <nav className="pager" aria-label="Pages">
        <button type="button" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - PAGE))}>
          Previous page
        </button>
        <span>
          {total === 0 ? 0 : offset + 1}–{Math.min(offset + PAGE, total)} of {total}
        </span>
        <button type="button" disabled={offset + PAGE >= total} onClick={() => setOffset(offset + PAGE)}>
          Next page
        </button>
      </nav>
    </main>
  );
}
