import { type ReactNode, useId } from 'react';

/** A labelled field with its problem (if any) announced next to it. */
export function Field(props: {
  label: string;
  error?: string | null | undefined;
  hint?: string;
  children: (id: string, describedBy?: string) => ReactNode;
}): ReactNode {
  const id = useId();
  const msg = `${id}-msg`;
  return (
    <div className="field">
      <label htmlFor={id}>{props.label}</label>
      {props.children(id, props.error || props.hint ? msg : undefined)}
      {props.error ? (
        <span id={msg} className="field-error" role="alert">
          {props.error}
        </span>
      ) : props.hint ? (
        <span id={msg} className="hint">
          {props.hint}
        </span>
      ) : null}
    </div>
  );
}
