import { type ReactNode, useState } from 'react';
import { useMutation, useQuery } from 'urql';
import { useLocation } from 'wouter';
import { CreateTaskMutation, SourceTopologiesQuery, TestConnectivityMutation } from '../api.js';
import { Field } from '../components/Field.js';
import { OptionsFields } from '../components/OptionsFields.js';
import { checkTopologyOptions, type OptionValues, TopologyOptions } from '../components/TopologyOptions.js';
import { ErrorLine, errorText } from '../components/ui.js';
import type { CreateTaskInput } from '../gql/graphql.js';
import { checkOptions, EMPTY_OPTIONS, type OptionsText } from '../lib/options.js';
import { type NodeInput, parseNodes } from '../lib/parse.js';

const STEPS = ['Basics', 'Source', 'Target', 'Options'] as const;

/** The topologies this form knows by heart; a plugin's get the form its options schema describes. */
const BUILT_IN = ['standalone', 'cluster', 'twemproxy', 'codis', 'file'];

interface Connectivity {
  node: string;
  ok: boolean;
  message: string;
}

export function CreateTask(): ReactNode {
  const [, navigate] = useLocation();
  const [plugins] = useQuery({ query: SourceTopologiesQuery });
  const known = plugins.data?.sourceTopologies ?? [];
  const topologies = known.map((t) => t.topology);
  const [step, setStep] = useState(0);
  const [name, setName] = useState('');
  const [tags, setTags] = useState('');
  const [mode, setMode] = useState<'immediate' | 'scheduled'>('immediate');
  const [startAt, setStartAt] = useState('');
  const [topology, setTopology] = useState('standalone');
  const [sourceNodes, setSourceNodes] = useState('');
  const [sourcePassword, setSourcePassword] = useState('');
  const [preferReplica, setPreferReplica] = useState(true);
  const [nutcracker, setNutcracker] = useState('');
  const [pool, setPool] = useState('');
  const [dashboard, setDashboard] = useState('');
  const [rdbFiles, setRdbFiles] = useState('');
  const [aof, setAof] = useState('');
  // a plugin's topology: its own options, as its schema describes them
  const [pluginValues, setPluginValues] = useState<OptionValues>({});
  const [targetNodes, setTargetNodes] = useState('');
  const [targetCluster, setTargetCluster] = useState(false);
  const [proxy, setProxy] = useState('');
  const [opts, setOpts] = useState<OptionsText>(EMPTY_OPTIONS);
  const [tests, setTests] = useState<Record<'source' | 'target', Connectivity[] | null>>({
    source: null,
    target: null,
  });
  const [testing, setTesting] = useState(false);
  const [saveError, setSaveError] = useState<string | null>(null);
  const [, test] = useMutation(TestConnectivityMutation);
  const [saving, create] = useMutation(CreateTaskMutation);

  // validated as typed: each problem shows next to its field, and blocks Save
  const needsNodes = topology === 'standalone' || topology === 'cluster';
  const isFile = topology === 'file';
  const info = known.find((t) => t.topology === topology);
  const fromPlugin = Boolean(info) && !BUILT_IN.includes(topology);
  const pluginOptions = info && fromPlugin ? checkTopologyOptions(info, pluginValues) : undefined;
  const takesNodes = !isFile && (!fromPlugin || Boolean(info?.takesNodes));
  const files = rdbFiles
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const src = parseNodes(sourceNodes);
  const dst = parseNodes(targetNodes);
  const checked = checkOptions(opts);
  const problems: Record<string, string | null> = {
    name: !name.trim() ? 'a task needs a name' : name.length > 200 ? 'at most 200 characters' : null,
    startAt: mode === 'scheduled' && !startAt ? 'choose when to start' : null,
    sourceNodes: !takesNodes
      ? null
      : needsNodes && !src.ok
        ? src.error
        : !needsNodes && sourceNodes.trim() && !src.ok
          ? src.error
          : null,
    backup:
      isFile && files.length === 0 && !aof.trim()
        ? 'the path of an RDB file, or of an AOF (a file or an appendonlydir)'
        : isFile && files.length > 0 && aof.trim()
          ? 'RDB files or an AOF, not both'
          : null,
    nutcracker: topology === 'twemproxy' && !nutcracker.trim() ? 'paste the nutcracker.yml' : null,
    pool: topology === 'twemproxy' && !pool.trim() ? 'the pool to migrate' : null,
    dashboard:
      topology === 'codis' && !dashboard.trim() ? 'the codis dashboard address (http://host:18080)' : null,
    targetNodes: dst.ok ? null : dst.error,
    ...checked.problems,
    ...(pluginOptions?.problems ?? {}),
  };
  const stepOf: Record<string, number> = {
    name: 0,
    startAt: 0,
    sourceNodes: 1,
    nutcracker: 1,
    pool: 1,
    dashboard: 1,
    backup: 1,
    targetNodes: 2,
    dbMap: 3,
    filter: 3,
    keysPerSec: 3,
    bytesPerSec: 3,
    ...Object.fromEntries(Object.keys(pluginOptions?.problems ?? {}).map((k) => [k, 1])),
  };
  const blocking = Object.entries(problems).filter(([, v]) => v);
  const stepHasProblem = (s: number): boolean => blocking.some(([k]) => stepOf[k] === s);
  const shown = (k: string): string | null => {
    // a field's problem shows once the user typed there or moved past its step
    const touched = {
      name,
      startAt,
      sourceNodes,
      nutcracker,
      pool,
      dashboard,
      targetNodes,
      ...opts,
      ...Object.fromEntries(Object.entries(pluginValues).map(([n, v]) => [`option:${n}`, String(v)])),
    }[k as 'name'];
    return touched || step > (stepOf[k] ?? 0) ? (problems[k] ?? null) : null;
  };

  const endpoint = (n: NodeInput, fallbackPassword: string) => ({
    host: n.host,
    port: n.port,
    ...(n.password || fallbackPassword ? { password: n.password || fallbackPassword } : {}),
  });

  const runTest = async (side: 'source' | 'target'): Promise<void> => {
    const parsed = side === 'source' ? src : dst;
    if (!parsed.ok) {
      setTests((t) => ({ ...t, [side]: [{ node: '—', ok: false, message: parsed.error }] }));
      return;
    }
    setTesting(true);
    const out: Connectivity[] = [];
    for (const n of parsed.value) {
      const r = await test({ endpoint: endpoint(n, side === 'source' ? sourcePassword : '') });
      const label = `${n.host}:${n.port}`;
      if (r.error) out.push({ node: label, ok: false, message: errorText(r.error) ?? 'failed' });
      else if (r.data) {
        const c = r.data.testConnectivity;
        out.push({
          node: label,
          ok: c.ok,
          message: c.ok
            ? `reachable and authenticated${c.rttMs !== null && c.rttMs !== undefined ? `, ${c.rttMs} ms` : ''}${c.version ? `, server ${c.version}` : ''}`
            : c.message,
        });
      }
    }
    setTests((t) => ({ ...t, [side]: out }));
    setTesting(false);
  };

  const save = async (): Promise<void> => {
    setSaveError(null);
    if (blocking.length > 0) {
      const [k, v] = blocking[0] as [string, string];
      setStep(stepOf[k] ?? 0);
      setSaveError(`Fix this first: ${v}`);
      return;
    }
    const target = (dst as { value: NodeInput[] }).value[0] as NodeInput;
    const input: CreateTaskInput = {
      name: name.trim(),
      tags: tags
        .split(',')
        .map((t) => t.trim())
        .filter(Boolean),
      ...(mode === 'scheduled' ? { scheduledAt: new Date(startAt).toISOString() } : {}),
      source: {
        topology,
        ...(isFile ? { options: { file: aof.trim() ? { aof: aof.trim() } : { files } } } : {}),
        ...(takesNodes && src.ok ? { nodes: src.value.map((n) => endpoint(n, '')) } : {}),
        ...(takesNodes && sourcePassword ? { password: sourcePassword } : {}),
        ...(needsNodes ? { preferReplica } : {}),
        ...(topology === 'twemproxy'
          ? { options: { twemproxy: { configText: nutcracker, pool: pool.trim() } } }
          : {}),
        ...(topology === 'codis' ? { options: { codis: { dashboard: dashboard.trim() } } } : {}),
        ...(pluginOptions && info?.optionsField
          ? { options: { [info.optionsField]: pluginOptions.value } }
          : {}),
      },
      target: {
        endpoint: endpoint(target, ''),
        ...(targetCluster ? { cluster: true } : {}),
        ...(proxy ? { proxy } : {}),
      },
      options: checked.input ?? {},
    };
    const r = await create({ input });
    if (r.error) {
      setSaveError(errorText(r.error));
      return;
    }
    if (r.data) navigate(`/tasks/${encodeURIComponent(r.data.createTask.id)}/precheck`);
  };

  const results = (side: 'source' | 'target'): ReactNode =>
    tests[side] && (
      <ul className="results" aria-label={`${side === 'source' ? 'Source' : 'Target'} connectivity`}>
        {tests[side]?.map((t) => (
          <li key={t.node} className={t.ok ? 'ok' : 'bad'}>
            <strong>{t.node}</strong>: {t.ok ? 'ok' : 'failed'} — {t.message}
          </li>
        ))}
      </ul>
    );

  return (
    <main>
      <h1>Create task</h1>
      <ErrorLine
        error={
          plugins.error ? `The registered topologies could not be read: ${errorText(plugins.error)}` : null
        }
      />
      <ol className="steps" aria-label="Steps">
        {STEPS.map((s, i) => (
          <li key={s}>
            <button
              type="button"
              aria-current={i === step ? 'step' : undefined}
              className={stepHasProblem(i) && i < step ? 'has-problem' : undefined}
              onClick={() => setStep(i)}
            >
              {i + 1}. {s}
            </button>
          </li>
        ))}
      </ol>
      <form
        className="wizard"
        onSubmit={(e) => {
          e.preventDefault();
          if (step < STEPS.length - 1) setStep(step + 1);
          else void save();
        }}
      >
        {step === 0 && (
          <fieldset>
            <legend>Basics</legend>
            <Field label="Task name" error={shown('name')}>
              {(id, d) => (
                <input
                  id={id}
                  aria-describedby={d}
                  value={name}
                  onChange={(e) => setName(e.target.value)}
                  maxLength={200}
                />
              )}
            </Field>
            <Field label="Tags" hint="comma separated, e.g. orders, prod">
              {(id, d) => (
                <input id={id} aria-describedby={d} value={tags} onChange={(e) => setTags(e.target.value)} />
              )}
            </Field>
            <fieldset className="inline">
              <legend>Running mode</legend>
              <label>
                <input
                  type="radio"
                  name="mode"
                  checked={mode === 'immediate'}
                  onChange={() => setMode('immediate')}
                />{' '}
                Start after the precheck
              </label>
              <label>
                <input
                  type="radio"
                  name="mode"
                  checked={mode === 'scheduled'}
                  onChange={() => setMode('scheduled')}
                />{' '}
                Scheduled
              </label>
            </fieldset>
            {mode === 'scheduled' && (
              <Field label="Start at" error={shown('startAt')} hint="your local time">
                {(id, d) => (
                  <input
                    id={id}
                    aria-describedby={d}
                    type="datetime-local"
                    value={startAt}
                    onChange={(e) => setStartAt(e.target.value)}
                  />
                )}
              </Field>
            )}
          </fieldset>
        )}
        {step === 1 && (
          <fieldset>
            <legend>Source</legend>
            <Field label="Source topology">
              {(id) => (
                <select id={id} value={topology} onChange={(e) => setTopology(e.target.value)}>
                  {(topologies.length ? topologies : ['standalone']).map((t) => (
                    <option key={t} value={t}>
                      {t}
                    </option>
                  ))}
                </select>
              )}
            </Field>
            {topology === 'twemproxy' && (
              <>
                <Field label="nutcracker.yml" error={shown('nutcracker')}>
                  {(id, d) => (
                    <textarea
                      id={id}
                      aria-describedby={d}
                      rows={6}
                      value={nutcracker}
                      onChange={(e) => setNutcracker(e.target.value)}
                    />
                  )}
                </Field>
                <Field label="Pool" error={shown('pool')}>
                  {(id, d) => (
                    <input
                      id={id}
                      aria-describedby={d}
                      value={pool}
                      onChange={(e) => setPool(e.target.value)}
                    />
                  )}
                </Field>
              </>
            )}
            {isFile && (
              <>
                <Field
                  label="RDB files"
                  error={shown('backup')}
                  hint="paths on the gateway's machine, one per line (one per shard of a cluster's backup)"
                >
                  {(id, d) => (
                    <textarea
                      id={id}
                      aria-describedby={d}
                      rows={3}
                      spellCheck={false}
                      value={rdbFiles}
                      onChange={(e) => setRdbFiles(e.target.value)}
                    />
                  )}
                </Field>
                <Field label="AOF" hint="or: an AOF file, or a Redis 7+ appendonlydir (with its manifest)">
                  {(id, d) => (
                    <input
                      id={id}
                      aria-describedby={d}
                      value={aof}
                      onChange={(e) => setAof(e.target.value)}
                    />
                  )}
                </Field>
              </>
            )}
            {topology === 'codis' && (
              <Field label="Codis dashboard" error={shown('dashboard')}>
                {(id, d) => (
                  <input
                    id={id}
                    aria-describedby={d}
                    value={dashboard}
                    onChange={(e) => setDashboard(e.target.value)}
                  />
                )}
              </Field>
            )}
            {fromPlugin && info && (
              <TopologyOptions
                topology={info}
                values={pluginValues}
                onChange={setPluginValues}
                shown={shown}
              />
            )}
            {takesNodes && (
              <>
                <Field
                  label="Source nodes"
                  error={shown('sourceNodes')}
                  hint={
                    topology === 'cluster'
                      ? 'host:port[:password], one per line: any seeds of the cluster'
                      : needsNodes
                        ? 'host:port[:password], one per line: the server and its replicas'
                        : 'optional: host:port[:password] of the backends, one per line'
                  }
                >
                  {(id, d) => (
                    <textarea
                      id={id}
                      aria-describedby={d}
                      rows={4}
                      spellCheck={false}
                      autoComplete="off"
                      value={sourceNodes}
                      onChange={(e) => setSourceNodes(e.target.value)}
                    />
                  )}
                </Field>
                <Field label="Source password" hint="for every node without one in its line">
                  {(id, d) => (
                    <input
                      id={id}
                      aria-describedby={d}
                      type="password"
                      autoComplete="off"
                      value={sourcePassword}
                      onChange={(e) => setSourcePassword(e.target.value)}
                    />
                  )}
                </Field>
                {needsNodes && (
                  <label className="check">
                    <input
                      type="checkbox"
                      checked={preferReplica}
                      onChange={(e) => setPreferReplica(e.target.checked)}
                    />{' '}
                    Read from a replica when there is one
                  </label>
                )}
                <button
                  type="button"
                  onClick={() => void runTest('source')}
                  disabled={testing || !sourceNodes.trim()}
                >
                  Test connectivity
                </button>
                {results('source')}
              </>
            )}
          </fieldset>
        )}
        {step === 2 && (
          <fieldset>
            <legend>Target</legend>
            <Field
              label="Target nodes"
              error={shown('targetNodes')}
              hint="host:port[:password]: the server, a cluster node or the proxy (the first line is the entry point)"
            >
              {(id, d) => (
                <textarea
                  id={id}
                  aria-describedby={d}
                  rows={3}
                  spellCheck={false}
                  autoComplete="off"
                  value={targetNodes}
                  onChange={(e) => setTargetNodes(e.target.value)}
                />
              )}
            </Field>
            <label className="check">
              <input
                type="checkbox"
                checked={targetCluster}
                onChange={(e) => setTargetCluster(e.target.checked)}
              />{' '}
              Target is a cluster
            </label>
            <Field label="Target proxy">
              {(id) => (
                <select id={id} value={proxy} onChange={(e) => setProxy(e.target.value)}>
                  <option value="">none: the servers themselves</option>
                  <option value="twemproxy">twemproxy</option>
                  <option value="codis">codis-proxy</option>
                </select>
              )}
            </Field>
            <button
              type="button"
              onClick={() => void runTest('target')}
              disabled={testing || !targetNodes.trim()}
            >
              Test connectivity
            </button>
            {results('target')}
          </fieldset>
        )}
        {step === 3 && (
          <fieldset>
            <legend>Options</legend>
            <OptionsFields value={opts} onChange={setOpts} shown={shown} />
          </fieldset>
        )}
        <ErrorLine error={saveError} />
        <div className="buttons">
          {step > 0 && (
            <button type="button" onClick={() => setStep(step - 1)}>
              Back
            </button>
          )}
          {step < STEPS.length - 1 ? (
            <button type="submit" className="primary">
              Next
            </button>
          ) : null}
          <button
            type="button"
            className={step === STEPS.length - 1 ? 'primary' : undefined}
            disabled={saving.fetching}
            onClick={() => void save()}
          >
            Save
          </button>
        </div>
      </form>
    </main>
  );
}
