import { type FormEvent, type ReactNode, useState } from 'react';
import { useAuth } from '../auth.js';
import { checkToken } from '../client.js';

export function SignIn({ origin }: { origin?: string }): ReactNode {
  const { signIn, reason } = useAuth();
  const [error, setError] = useState<string | null>(reason);
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent<HTMLFormElement>): Promise<void> => {
    e.preventDefault();
    const input = e.currentTarget.elements.namedItem('token') as HTMLInputElement;
    const token = input.value.trim();
    if (!token) {
      setError('Enter an API token (FERRY_API_TOKENS, or one made with ferry-gateway token create).');
      return;
    }
    setBusy(true);
    const r = await checkToken(token, origin);
    setBusy(false);
    if (r === 'ok') {
      input.value = '';
      signIn(token);
    } else if (r === 'refused') {
      input.value = '';
      setError('The gateway refused this token. Check it, or make one with ferry-gateway token create.');
    } else setError(r);
  };
  return (
    <main className="signin">
      <h1>Ferry</h1>
      <p>Live migration for Redis and Valkey. Sign in with an API token of this gateway.</p>
      <form onSubmit={(e) => void submit(e)} aria-describedby={error ? 'signin-error' : undefined}>
        <label htmlFor="token">API token</label>
        <input id="token" name="token" type="password" autoComplete="off" spellCheck={false} required />
        <button type="submit" disabled={busy}>
          Sign in
        </button>
        {error && (
          <p id="signin-error" role="alert" className="error">
            {error}
          </p>
        )}
      </form>
      <p className="hint">The token is kept for this browser session only.</p>
    </main>
  );
}
