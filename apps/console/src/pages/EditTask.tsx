import { type ReactNode, useEffect, useState } from 'react';
import { useMutation, useQuery } from 'urql';
import { Link, useLocation } from 'wouter';
import { TaskQuery, UpdateTaskMutation } from '../api.js';
import { Field } from '../components/Field.js';
import { OptionsFields } from '../components/OptionsFields.js';
import { ErrorLine, errorText } from '../components/ui.js';
import { checkOptions, type OptionsText, optionsText } from '../lib/options.js';

/**
 * Name, tags and options of a task that is not running. Source and target are not edited here:
 * their passwords are write-only, so a changed side is a new task (Clone, then edit that one).
 */
export function EditTask({ id }: { id: string }): ReactNode {
  const [, navigate] = useLocation();
  const [r] = useQuery({ query: TaskQuery, variables: { id } });
  const [saving, update] = useMutation(UpdateTaskMutation);
  const [name, setName] = useState('');
  const [tags, setTags] = useState('');
  const [opts, setOpts] = useState<OptionsText | null>(null);
  const [error, setError] = useState<string | null>(null);
  const t = r.data?.task;
  useEffect(() => {
    if (!t || opts) return;
    setName(t.name);
    setTags(t.tags.join(', '));
    setOpts(optionsText(t.options));
  }, [t, opts]);
  if (!t || !opts)
    return (
      <main aria-busy={!r.error}>
        <ErrorLine error={errorText(r.error)} />
      </main>
    );
  const checked = checkOptions(opts);
  const nameProblem = !name.trim() ? 'a task needs a name' : null;
  const save = async (): Promise<void> => {
    setError(null);
    if (nameProblem || !checked.input) {
      setError(`Fix this first: ${nameProblem ?? Object.values(checked.problems).find(Boolean)}`);
      return;
    }
    const x = await update({
      id,
      input: {
        name: name.trim(),
        tags: tags
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean),
        options: checked.input,
      },
    });
    if (x.error) return setError(errorText(x.error));
    navigate(
      x.data?.updateTask.status === 'created'
        ? `/tasks/${encodeURIComponent(id)}/precheck`
        : `/tasks/${encodeURIComponent(id)}`,
    );
  };
  return (
    <main>
      <p className="crumbs">
        <Link href="/tasks">Tasks</Link> › <Link href={`/tasks/${encodeURIComponent(id)}`}>{t.name}</Link> ›
        Edit
      </p>
      <h1>Edit: {t.name}</h1>
      {!t.allowedActions.includes('update') && (
        <p className="error">
          A task that is {t.status.replaceAll('_', ' ')} cannot be changed: stop it first.
        </p>
      )}
      <form
        className="wizard"
        onSubmit={(e) => {
          e.preventDefault();
          void save();
        }}
      >
        <fieldset>
          <legend>Basics</legend>
          <Field label="Task name" error={nameProblem}>
            {(fid, d) => (
              <input
                id={fid}
                aria-describedby={d}
                value={name}
                maxLength={200}
                onChange={(e) => setName(e.target.value)}
              />
            )}
          </Field>
          <Field label="Tags" hint="comma separated">
            {(fid, d) => (
              <input id={fid} aria-describedby={d} value={tags} onChange={(e) => setTags(e.target.value)} />
            )}
          </Field>
        </fieldset>
        <fieldset>
          <legend>Options</legend>
          <p className="hint">A change of options sends the task back to its precheck.</p>
          <OptionsFields value={opts} onChange={setOpts} shown={(k) => checked.problems[k] ?? null} />
        </fieldset>
        <ErrorLine error={error} />
        <div className="buttons">
          <button
            type="submit"
            className="primary"
            disabled={saving.fetching || !t.allowedActions.includes('update')}
          >
            Save
          </button>
          <button type="button" onClick={() => navigate(`/tasks/${encodeURIComponent(id)}`)}>
            Cancel
          </button>
        </div>
      </form>
    </main>
  );
}
