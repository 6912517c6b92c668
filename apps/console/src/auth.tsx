import { createContext, type ReactNode, useCallback, useContext, useMemo, useState } from 'react';

const KEY = 'ferry.token';

interface Auth {
  token: string | null;
  signIn(token: string): void;
  signOut(reason?: string): void;
  /** Why the last session ended (a refused token), shown on the sign-in page. */
  reason: string | null;
}

const AuthContext = createContext<Auth | null>(null);

/** The API token, kept for this browser tab's session only (sessionStorage), never in a URL. */
export function AuthProvider({ children }: { children: ReactNode }): ReactNode {
  const [token, setToken] = useState<string | null>(() => sessionStorage.getItem(KEY));
  const [reason, setReason] = useState<string | null>(null);
  const signIn = useCallback((t: string) => {
    sessionStorage.setItem(KEY, t);
    setReason(null);
    setToken(t);
  }, []);
  const signOut = useCallback((why?: string) => {
    sessionStorage.removeItem(KEY);
    setReason(why ?? null);
    setToken(null);
  }, []);
  const value = useMemo(() => ({ token, signIn, signOut, reason }), [token, signIn, signOut, reason]);
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): Auth {
  const a = useContext(AuthContext);
  if (!a) throw new Error('useAuth outside AuthProvider');
  return a;
}
