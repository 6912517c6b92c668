import { type ReactNode, useEffect, useState } from 'react';
import { useMutation, useQuery } from 'urql';
import { Link } from 'wouter';
import { VerificationsQuery, VerifyMutation } from '../api.js';
import { Badge, ErrorLine, errorText } from '../components/ui.js';
import { num, when } from '../lib/format.js';
import { asDifferences, group, toCsv } from '../lib/report.js';

function download(name: string, type: string, text: string): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

export function Verify({ id }: { id: string }): ReactNode {
  const [r, refetch] = useQuery({ query: VerificationsQuery, variables: { id } });
  const [starting, verify] = useMutation(VerifyMutation);
  const [mode, setMode] = useState('full');
  const [rounds, setRounds] = useState('3');
  const [error, setError] = useState<string | null>(null);
  const runs = r.data?.task.verifications ?? [];
  const running = runs.some((v) => v.status === 'running');
  useEffect(() => {
    if (!running) return undefined;
    const t = setInterval(() => refetch({ requestPolicy: 'network-only' }), 1000);
    return () => clearInterval(t);
  }, [running, refetch]);
  const start = async (): Promise<void> => {
    setError(null);
    const n = Number(rounds);
    if (!Number.isInteger(n) || n < 1 || n > 10) {
      setError('Rounds: a whole number from 1 to 10.');
      return;
    }
    const x = await verify({ id, mode, rounds: n });
    if (x.error) setError(errorText(x.error));
    refetch({ requestPolicy: 'network-only' });
  };
  const latest = runs.at(-1);
  const diffs = latest ? asDifferences(latest.details) : [];
  return (
    <main>
      <p className="crumbs">
        <Link href="/tasks">Tasks</Link> ›{' '}
        <Link href={`/tasks/${encodeURIComponent(id)}`}>{r.data?.task.name ?? id}</Link> › Verify
      </p>
      <h1>Verify{r.data ? `: ${r.data.task.name}` : ''}</h1>
      <ErrorLine error={errorText(r.error)} />
      <form
        className="row"
        onSubmit={(e) => {
          e.preventDefault();
          void start();
        }}
      >
        <label>
          Mode
          <select value={mode} onChange={(e) => setMode(e.target.value)}>
            <option value="full">full: values compared</option>
            <option value="length">length: types and lengths</option>
            <option value="outline">outline: keys and types</option>
          </select>
        </label>
        <label>
          Rounds
          <input inputMode="numeric" value={rounds} onChange={(e) => setRounds(e.target.value)} />
        </label>
        <button type="submit" className="primary" disabled={starting.fetching || running}>
          Verify
        </button>
      </form>
      <ErrorLine error={error} />
      {latest && (
        <section aria-labelledby="report-h">
          <h2 id="report-h">
            Verification {latest.id}:{' '}
            <Badge
              value={latest.status === 'done' ? (latest.differences ? 'fail' : 'pass') : latest.status}
            />
          </h2>
          <p role="status">
            {latest.status === 'running'
              ? `Running: round ${latest.rounds || 1}, ${num(latest.keysChecked)} keys checked so far`
              : latest.status === 'failed'
                ? `Failed: ${latest.error}`
                : `${num(latest.differences)} differences after ${latest.rounds} round(s), ${num(latest.keysChecked)} keys checked (${when(latest.finishedAt)})`}
          </p>
          {latest.status === 'done' && (
            <>
              <p>
                Missing {diffs.filter((d) => group(d.kind) === 'missing').length} · extra{' '}
                {diffs.filter((d) => group(d.kind) === 'extra').length} · different{' '}
                {diffs.filter((d) => group(d.kind) === 'different').length}
                {latest.differences > diffs.length
                  ? ` (the first ${diffs.length} of ${latest.differences} listed)`
                  : ''}
              </p>
              <div className="buttons">
                <button
                  type="button"
                  onClick={() =>
                    download(
                      `ferry-verify-${id}-${latest.id}.json`,
                      'application/json',
                      JSON.stringify(diffs, null, 2),
                    )
                  }
                >
                  Download JSON
                </button>
                <button
                  type="button"
                  onClick={() => download(`ferry-verify-${id}-${latest.id}.csv`, 'text/csv', toCsv(diffs))}
                >
                  Download CSV
                </button>
              </div>
              {diffs.length > 0 && (
                <div className="scroll">
                  <table aria-label="Differences">
                    <thead>
                      <tr>
                        <th scope="col">Difference</th>
                        <th scope="col">Kind</th>
                        <th scope="col">Db</th>
                        <th scope="col">Key</th>
                        <th scope="col">Target</th>
                        <th scope="col">Detail</th>
                      </tr>
                    </thead>
                    <tbody>
                      {diffs.map((d) => (
                        <tr key={`${d.db}:${d.key}:${d.kind}`}>
                          <td>{group(d.kind)}</td>
                          <td>{d.kind}</td>
                          <td>{d.db}</td>
                          <td className="key">{d.key}</td>
                          <td className="key">
                            db {d.targetDb} {d.targetKey !== d.key ? d.targetKey : ''}
                          </td>
                          <td>{d.detail ?? ''}</td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </div>
              )}
            </>
          )}
        </section>
      )}
      {runs.length > 1 && (
        <section aria-labelledby="runs-h">
          <h2 id="runs-h">Earlier runs</h2>
          <ul>
            {runs
              .slice(0, -1)
              .reverse()
              .map((v) => (
                <li key={v.id}>
                  {v.id}: {v.mode}, {v.status}, {num(v.differences)} differences, {num(v.keysChecked)} keys (
                  {when(v.startedAt)})
                </li>
              ))}
          </ul>
        </section>
      )}
    </main>
  );
}
