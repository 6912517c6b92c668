import type { ReactNode } from 'react';
import type { SourceTopologiesQuery } from '../gql/graphql.js';
import { Field } from './Field.js';

export type TopologyInfo = SourceTopologiesQuery['sourceTopologies'][number];
export type OptionValues = Record<string, string | boolean>;

/**
 * A plugin topology's own options as typed, checked: the value for `SourceInput.options`, or the
 * problem of each field. Lists are one item per line; numbers must be numbers.
 */
export function checkTopologyOptions(
  t: TopologyInfo,
  values: OptionValues,
): { value: Record<string, unknown>; problems: Record<string, string | null> } {
  const value: Record<string, unknown> = {};
  const problems: Record<string, string | null> = {};
  for (const o of t.options) {
    const raw = values[o.name];
    const key = `option:${o.name}`;
    problems[key] = null;
    if (o.type === 'boolean') {
      if (raw !== undefined) value[o.name] = raw === true;
      continue;
    }
    const text = typeof raw === 'string' ? raw.trim() : '';
    if (!text) {
      if (o.required) problems[key] = `${o.name} is needed: ${o.description || 'see the plugin'}`;
      continue;
    }
    if (o.type === 'string-list')
      value[o.name] = text
        .split('\n')
        .map((l) => l.trim())
        .filter(Boolean);
    else if (o.type === 'number' || o.type === 'integer') {
      const n = Number(text);
      if (!Number.isFinite(n) || (o.type === 'integer' && !Number.isInteger(n)))
        problems[key] = `${o.name} must be ${o.type === 'integer' ? 'a whole number' : 'a number'}`;
      else value[o.name] = n;
    } else if (o.enum && !o.enum.includes(text))
      problems[key] = `${o.name} must be one of ${o.enum.join(', ')}`;
    else value[o.name] = text;
  }
  return { value, problems };
}

/** The form of a topology's own options, made from its plugin's schema. */
export function TopologyOptions(props: {
  topology: TopologyInfo;
  values: OptionValues;
  onChange: (values: OptionValues) => void;
  shown: (key: string) => string | null;
}): ReactNode {
  const { topology: t, values, onChange } = props;
  const set = (name: string, v: string | boolean): void => onChange({ ...values, [name]: v });
  return (
    <>
      {t.options.map((o) => {
        const hint = [
          o.description,
          o.path ? "a path on the gateway's machine" : '',
          o.type === 'string-list' ? 'one per line' : '',
          o.default ? `default ${o.default}` : '',
        ]
          .filter(Boolean)
          .join('; ');
        if (o.type === 'boolean')
          return (
            <label className="check" key={o.name}>
              <input
                type="checkbox"
                checked={values[o.name] === true}
                onChange={(e) => set(o.name, e.target.checked)}
              />{' '}
              {o.description || o.name}
            </label>
          );
        return (
          <Field key={o.name} label={o.name} hint={hint} error={props.shown(`option:${o.name}`)}>
            {(id, d) =>
              o.enum ? (
                <select
                  id={id}
                  aria-describedby={d}
                  value={String(values[o.name] ?? '')}
                  onChange={(e) => set(o.name, e.target.value)}
                >
                  <option value="">—</option>
                  {o.enum.map((v) => (
                    <option key={v} value={v}>
                      {v}
                    </option>
                  ))}
                </select>
              ) : o.type === 'string-list' ? (
                <textarea
                  id={id}
                  aria-describedby={d}
                  rows={3}
                  spellCheck={false}
                  value={String(values[o.name] ?? '')}
                  onChange={(e) => set(o.name, e.target.value)}
                />
              ) : (
                <input
                  id={id}
                  aria-describedby={d}
                  type={o.secret ? 'password' : 'text'}
                  autoComplete="off"
                  placeholder={o.placeholder ?? undefined}
                  value={String(values[o.name] ?? '')}
                  onChange={(e) => set(o.name, e.target.value)}
                />
              )
            }
          </Field>
        );
      })}
    </>
  );
}
