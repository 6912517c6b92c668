import { type ReactNode, useEffect, useMemo, useRef, useState } from 'react';
import { useMutation, useQuery, useSubscription } from 'urql';
import { Link, useLocation } from 'wouter';
import { EventsSubscription, ProgressSubscription, RateLimitMutation, TaskQuery } from '../api.js';
import { Chart } from '../components/Chart.js';
import { Badge, ErrorLine, errorText } from '../components/ui.js';
import type { ProgressSubscription as ProgressData } from '../gql/graphql.js';
import { ACTION_LABEL, buttonActions, useTaskActions } from '../lib/actions.js';
import { bytes, num, seconds, when, words } from '../lib/format.js';

type P = ProgressData['taskProgress'];
interface Point {
  at: number;
  keysPerSec: number | null;
  commandsPerSec: number | null;
  lagSeconds: number | null;
  lagBytes: number;
}
const MAX_POINTS = 1800;

export function TaskDetail({ id }: { id: string }): ReactNode {
  const [, navigate] = useLocation();
  const from = useMemo(() => new Date(Date.now() - 3600_000).toISOString(), []);
  const [r, refetch] = useQuery({ query: TaskQuery, variables: { id, from } });
  const [live] = useSubscription({ query: ProgressSubscription, variables: { id } });
  const [events] = useSubscription(
    { query: EventsSubscription, variables: { id } },
    (prev: Array<{ id: string; at: string; kind: string; message: string }> = [], e) =>
      [e.taskEvents, ...prev].slice(0, 200),
  );
  const actions = useTaskActions();
  const [, setRate] = useMutation(RateLimitMutation);
  const [rateMsg, setRateMsg] = useState<string | null>(null);
  const [lagging, setLagging] = useState<string | null>(null);
  const [confirmForce, setConfirmForce] = useState(false);
  const [confirmDelete, setConfirmDelete] = useState(false);
  const points = useRef<Point[]>([]);
  const [, setTick] = useState(0);
  const t = r.data?.task;
  const p: P | undefined = live.data?.taskProgress;
  const reload = (): void => refetch({ requestPolicy: 'network-only' });

  // stored samples first (the last hour), then live points as they come
  useEffect(() => {
    if (!t || points.current.length > 0) return;
    let prev: { at: number; keys: number; commands: number } | undefined;
    points.current = t.metrics.map((m) => {
      const at = new Date(m.at).getTime() / 1000;
      const dt = prev ? at - prev.at : 0;
      const pt: Point = {
        at,
        keysPerSec: prev && dt > 0 ? Math.max(0, (m.keys - prev.keys) / dt) : null,
        commandsPerSec: prev && dt > 0 ? Math.max(0, (m.commands - prev.commands) / dt) : null,
        lagSeconds: m.lagSeconds ?? null,
        lagBytes: m.lagBytes,
      };
      prev = { at, keys: m.keys, commands: m.commands };
      return pt;
    });
    setTick((n) => n + 1);
  }, [t]);
  useEffect(() => {
    if (!p) return;
    points.current = [
      ...points.current,
      {
        at: new Date(p.at).getTime() / 1000,
        keysPerSec: p.keysPerSec,
        commandsPerSec: p.commandsPerSec,
        lagSeconds: p.lagSeconds ?? null,
        lagBytes: p.lagBytes,
      },
    ].slice(-MAX_POINTS);
    setTick((n) => n + 1);
  }, [p]);
  // the task itself (allowed actions, shards) read again when its state changes, and every 5 s
  const state = p?.state;
  useEffect(() => {
    if (state) reload();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [state]);
  useEffect(() => {
    const timer = setInterval(reload, 5000);
    return () => clearInterval(timer);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  const pts = points.current;
  const times = pts.map((x) => x.at);
  const status = p?.state ?? t?.status;
  const ended = status === 'succeeded' || status === 'stopped' || status === 'failed';
  // without live progress (a task that ended, or before the first update): what storage says
  const phase =
    p?.phase ?? (status === 'succeeded' ? 'done' : ended ? 'idle' : (t?.shards[0]?.phase ?? 'idle'));
  const percent =
    p?.percent ??
    (status === 'succeeded' || (t?.shards.length && t.shards.every((s) => s.phase === 'incremental'))
      ? 100
      : 0);
  const allowed = t ? buttonActions(t.allowedActions, ['setRateLimit']) : [];

  const act = async (a: string): Promise<void> => {
    setLagging(null);
    if (a === 'delete' && !confirmDelete) {
      setConfirmDelete(true);
      return;
    }
    setConfirmDelete(false);
    const ok = await actions.run(a, id);
    if (!ok && a === 'complete') setLagging('refused');
    reload();
  };
  const force = async (): Promise<void> => {
    setConfirmForce(false);
    actions.clear();
    setLagging(null);
    await actions.run('complete', id, { force: true });
    reload();
  };
  const applyRate = async (form: HTMLFormElement): Promise<void> => {
    const k = Number((form.elements.namedItem('kps') as HTMLInputElement).value || 0);
    const b = Number((form.elements.namedItem('bps') as HTMLInputElement).value || 0);
    if (!Number.isFinite(k) || k < 0 || !Number.isFinite(b) || b < 0) {
      setRateMsg('Rates are numbers ≥ 0 (0: no limit).');
      return;
    }
    const x = await setRate({ id, keysPerSec: k, bytesPerSec: b });
    setRateMsg(
      x.error
        ? errorText(x.error)
        : `Rate limit now ${k || 'no limit on'} keys/s, ${b || 'no limit on'} bytes/s.`,
    );
  };

  if (r.error && !t)
    return (
      <main>
        <ErrorLine error={errorText(r.error)} />
        <Link href="/tasks">Back to the tasks</Link>
      </main>
    );
  if (!t) return <main aria-busy="true">Loading…</main>;
  return (
    <main>
      <p className="crumbs">
        <Link href="/tasks">Tasks</Link> › {t.name}
      </p>
      <div className="toolbar">
        <h1>{t.name}</h1>
        <span>
          State:{' '}
          <span role="status" aria-live="polite" data-state={status}>
            <Badge value={status ?? 'created'} />
          </span>
        </span>
      </div>
      {t.error && <p className="error">Last error: {t.error}</p>}
      <p className="meta">
        {t.source.topology} {t.source.nodes.map((n) => `${n.host}:${n.port}`).join(', ')} →{' '}
        {t.target.cluster ? 'cluster ' : ''}
        {t.target.proxy ? `${t.target.proxy} ` : ''}
        {t.target.endpoint.host}:{t.target.endpoint.port}
        {t.tags.length ? ` · tags ${t.tags.join(', ')}` : ''} · created {when(t.createdAt)}
      </p>
      <nav className="buttons" aria-label="Task actions">
        {allowed.map((a) => (
          <button
            key={a}
            type="button"
            className={a === 'complete' ? 'primary' : undefined}
            disabled={actions.busy}
            onClick={() => void act(a)}
          >
            {a === 'delete' && confirmDelete ? 'Confirm delete' : ACTION_LABEL[a]}
          </button>
        ))}
        <button type="button" onClick={() => navigate(`/tasks/${encodeURIComponent(id)}/verify`)}>
          Verify…
        </button>
      </nav>
      <ErrorLine error={actions.error} />
      {lagging && actions.error && /LAGGING|behind|lag/i.test(actions.error) && (
        <div className="notice">
          <p>Done is refused while the target is behind the source; it becomes possible once the lag is 0.</p>
          {!confirmForce ? (
            <button type="button" onClick={() => setConfirmForce(true)}>
              Force completion…
            </button>
          ) : (
            <div role="alertdialog" aria-labelledby="force-title" className="dialog">
              <p id="force-title">
                Complete now, although the target is behind? Ferry stops as soon as it has applied what the
                source sent up to then (the lag reaching 0 once), checks the target against the source and
                records what it finds; the source's writes after that are not migrated.
              </p>
              <button type="button" className="danger" onClick={() => void force()}>
                Confirm forced completion
              </button>
              <button type="button" onClick={() => setConfirmForce(false)}>
                Cancel
              </button>
            </div>
          )}
        </div>
      )}

      <section className="tiles" aria-label="Progress">
        <div>
          <span className="k">Phase</span>
          <span className="v">{words(phase)}</span>
        </div>
        <div>
          <span className="k">Snapshot</span>
          <span className="v">
            <progress max={100} value={percent} aria-label="Snapshot progress" /> {num(percent)} %
          </span>
          <span className="s">
            {p ? `${num(p.keysLoaded)} of ${p.keysTotal ? num(p.keysTotal) : '?'} keys` : ''}
            {p?.etaSeconds !== null && p?.etaSeconds !== undefined ? ` · ETA ${seconds(p.etaSeconds)}` : ''}
          </span>
        </div>
        <div>
          <span className="k">Keys/s</span>
          <span className="v">{num(p?.keysPerSec ?? 0)}</span>
        </div>
        <div>
          <span className="k">Commands/s</span>
          <span className="v">{num(p?.commandsPerSec ?? 0)}</span>
        </div>
        <div>
          <span className="k">Lag</span>
          <span className="v">{seconds(p?.lagSeconds ?? null)}</span>
          <span className="s">{bytes(p?.lagBytes ?? t.lagBytes)}</span>
        </div>
      </section>
      <ErrorLine error={live.error ? errorText(live.error) : null} />

      <div className="charts">
        <Chart
          title="Throughput (per second)"
          times={times}
          series={[
            { label: 'keys/s', color: '#2563eb', values: pts.map((x) => x.keysPerSec) },
            { label: 'commands/s', color: '#16a34a', values: pts.map((x) => x.commandsPerSec) },
          ]}
        />
        <Chart
          title="Lag (seconds)"
          unit=" s"
          times={times}
          series={[{ label: 'lag', color: '#dc2626', values: pts.map((x) => x.lagSeconds) }]}
        />
      </div>

      <section aria-labelledby="shards-h">
        <h2 id="shards-h">Shards</h2>
        <div className="scroll">
          <table>
            <thead>
              <tr>
                <th scope="col">Shard</th>
                <th scope="col">Phase</th>
                <th scope="col">Keys</th>
                <th scope="col">Commands</th>
                <th scope="col">Applied offset</th>
                <th scope="col">Lag</th>
              </tr>
            </thead>
            <tbody>
              {t.shards.map((s) => (
                <tr key={s.shardId}>
                  <td>{s.shardId}</td>
                  <td>{words(s.phase)}</td>
                  <td>{num(s.keys)}</td>
                  <td>{num(s.commands)}</td>
                  <td>{s.appliedOffset}</td>
                  <td>{bytes(s.lagBytes)}</td>
                </tr>
              ))}
              {t.shards.length === 0 && (
                <tr>
                  <td colSpan={6}>No shard yet: they appear once the task starts.</td>
                </tr>
              )}
            </tbody>
          </table>
        </div>
      </section>

      {t.allowedActions.includes('setRateLimit') && (
        <section aria-labelledby="rate-h" id="rate-limit">
          <h2 id="rate-h">Rate limit</h2>
          <form
            className="row"
            onSubmit={(e) => {
              e.preventDefault();
              void applyRate(e.currentTarget);
            }}
          >
            <label>
              Keys per second (0: none)
              <input name="kps" inputMode="numeric" defaultValue={t.options.rateLimit?.keysPerSec ?? 0} />
            </label>
            <label>
              Bytes per second (0: none)
              <input name="bps" inputMode="numeric" defaultValue={t.options.rateLimit?.bytesPerSec ?? 0} />
            </label>
            <button type="submit">Apply rate limit</button>
          </form>
          {rateMsg && <p role="status">{rateMsg}</p>}
        </section>
      )}

      <section aria-labelledby="events-h">
        <h2 id="events-h">Events</h2>
        <ol className="timeline">
          {mergeEvents(events.data ?? [], t.events.items).map((e) => (
            <li key={e.id}>
              <time dateTime={e.at}>{when(e.at)}</time> <span className={`kind ${e.kind}`}>{e.kind}</span>{' '}
              {e.message}
            </li>
          ))}
        </ol>
      </section>
    </main>
  );
}

/** Live events first, then the stored ones not already shown (newest first). */
function mergeEvents<T extends { id: string }>(live: T[], stored: T[]): T[] {
  const seen = new Set(live.map((e) => e.id));
  return [...live, ...stored.filter((e) => !seen.has(e.id))].slice(0, 200);
}
