import type { ReactNode } from 'react';
import type { CombinedError } from 'urql';
import { words } from '../lib/format.js';

/** A GraphQL or network error in words, with its code when the gateway gave one. */
export function errorText(e: CombinedError | undefined | null): string | null {
  if (!e) return null;
  const g = e.graphQLErrors[0];
  if (g) return `${g.message}${g.extensions?.code ? ` (${String(g.extensions.code)})` : ''}`;
  return e.networkError ? `network: ${e.networkError.message}` : e.message;
}

export function ErrorLine({ error }: { error: string | null | undefined }): ReactNode {
  if (!error) return null;
  return (
    <p role="alert" className="error">
      {error}
    </p>
  );
}

const TONE: Record<string, string> = {
  succeeded: 'good',
  incremental_sync: 'good',
  full_sync: 'busy',
  preparing: 'busy',
  completing: 'busy',
  retrying: 'warn',
  paused: 'warn',
  check_failed: 'bad',
  failed: 'bad',
  stopped: 'muted',
  pass: 'good',
  warn: 'warn',
  fail: 'bad',
};

export function Badge({ value }: { value: string }): ReactNode {
  return <span className={`badge ${TONE[value] ?? 'muted'}`}>{words(value)}</span>;
}
