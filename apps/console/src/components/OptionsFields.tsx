import type { ReactNode } from 'react';
import type { OptionsText } from '../lib/options.js';
import { Field } from './Field.js';

/** The task options' fields (wizard and edit page); `shown(k)` is the problem to show for field k. */
export function OptionsFields(props: {
  value: OptionsText;
  onChange(v: OptionsText): void;
  shown(k: string): string | null;
}): ReactNode {
  const v = props.value;
  const set = (patch: Partial<OptionsText>): void => props.onChange({ ...v, ...patch });
  return (
    <>
      <Field
        label="Db map"
        error={props.shown('dbMap')}
        hint="SRC=DST[+PREFIX], comma separated (0=0, 1=0+db1:, *=0); empty: each db to the same number"
      >
        {(id, d) => (
          <input
            id={id}
            aria-describedby={d}
            value={v.dbMap}
            onChange={(e) => set({ dbMap: e.target.value })}
          />
        )}
      </Field>
      <Field
        label="Key filters"
        error={props.shown('filter')}
        hint="one per line: prefix:…, glob:…, regex:…; ! in front excludes"
      >
        {(id, d) => (
          <textarea
            id={id}
            aria-describedby={d}
            rows={3}
            value={v.filter}
            onChange={(e) => set({ filter: e.target.value })}
          />
        )}
      </Field>
      <Field label="Rename prefix" hint="added in front of every key on the target">
        {(id, d) => (
          <input
            id={id}
            aria-describedby={d}
            value={v.renamePrefix}
            onChange={(e) => set({ renamePrefix: e.target.value })}
          />
        )}
      </Field>
      <div className="row">
        <Field label="Keys per second" error={props.shown('keysPerSec')} hint="empty: no limit">
          {(id, d) => (
            <input
              id={id}
              aria-describedby={d}
              inputMode="numeric"
              value={v.keysPerSec}
              onChange={(e) => set({ keysPerSec: e.target.value })}
            />
          )}
        </Field>
        <Field label="Bytes per second" error={props.shown('bytesPerSec')} hint="empty: no limit">
          {(id, d) => (
            <input
              id={id}
              aria-describedby={d}
              inputMode="numeric"
              value={v.bytesPerSec}
              onChange={(e) => set({ bytesPerSec: e.target.value })}
            />
          )}
        </Field>
      </div>
      <div className="row">
        <Field label="Write mode">
          {(id) => (
            <select
              id={id}
              value={v.writeMode}
              onChange={(e) => set({ writeMode: e.target.value as OptionsText['writeMode'] })}
            >
              <option value="auto">auto (RESTORE where versions allow)</option>
              <option value="restore">restore</option>
              <option value="rewrite">rewrite (commands)</option>
            </select>
          )}
        </Field>
        <Field label="Conflict policy" hint="a key that already exists on the target">
          {(id, d) => (
            <select
              id={id}
              aria-describedby={d}
              value={v.conflict}
              onChange={(e) => set({ conflict: e.target.value as OptionsText['conflict'] })}
            >
              <option value="fail">fail the task</option>
              <option value="replace">replace it</option>
              <option value="skip">skip it</option>
            </select>
          )}
        </Field>
      </div>
    </>
  );
}
