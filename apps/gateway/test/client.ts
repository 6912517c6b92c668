import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

/** POSTs a GraphQL operation; returns the parsed body and the HTTP status. */
export async function gql<T = Record<string, unknown>>(
  url: string,
  query: string,
  variables: Record<string, unknown> = {},
  token: string | null = 'test-token',
): Promise<{
  status: number;
  data?: T;
  errors?: Array<{ message: string; extensions?: { code?: string } }>;
  raw: string;
}> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  const raw = await res.text();
  const body = JSON.parse(raw) as {
    data?: T;
    errors?: Array<{ message: string; extensions?: { code?: string } }>;
  };
  return { status: res.status, ...body, raw };
}

/** The data of an operation that must succeed. */
export async function ok<T = Record<string, unknown>>(
  url: string,
  query: string,
  variables: Record<string, unknown> = {},
): Promise<T> {
  const r = await gql<T>(url, query, variables);
  if (r.errors?.length || !r.data) throw new Error(`GraphQL errors: ${JSON.stringify(r.errors)}`);
  return r.data;
}

/** The error code of an operation that must fail. */
export async function errorCode(
  url: string,
  query: string,
  variables: Record<string, unknown> = {},
): Promise<string | undefined> {
  const r = await gql(url, query, variables);
  return r.errors?.[0]?.extensions?.code;
}

/** Subscribes over graphql-ws; collects every payload until `stop()`. */
export function subscribe<T>(
  wsUrl: string,
  query: string,
  variables: Record<string, unknown>,
  token: string | null = 'test-token',
): { items: T[]; closed: Promise<{ code?: number; error?: string }>; stop(): void } {
  const items: T[] = [];
  let resolveClosed!: (v: { code?: number; error?: string }) => void;
  const closed = new Promise<{ code?: number; error?: string }>((r) => (resolveClosed = r));
  const client = createClient({
    url: wsUrl,
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    lazy: false,
    onNonLazyError: () => undefined, // reported through `closed`
    connectionParams: token ? { authorization: `Bearer ${token}` } : {},
    on: { closed: (e) => resolveClosed({ code: (e as { code?: number }).code }) },
  });
  const unsubscribe = client.subscribe<T>(
    { query, variables },
    {
      next: (v) => {
        if (v.data) items.push(v.data);
        // a subscription refused by its resolver (an unknown task) ends with one result of errors
        const first = v.errors?.[0] as { message?: string; extensions?: { code?: string } } | undefined;
        if (first)
          resolveClosed({
            error: `${first.message}${first.extensions?.code ? ` [${first.extensions.code}]` : ''}`,
          });
      },
      error: (e) => {
        // an `error` message carries GraphQL errors (an array); a closed socket, an event
        const first = (Array.isArray(e) ? e[0] : e) as {
          message?: string;
          code?: number;
          extensions?: { code?: string };
        };
        resolveClosed({
          error: `${String(first?.message ?? first?.code ?? e)}${first?.extensions?.code ? ` [${first.extensions.code}]` : ''}`,
        });
      },
      complete: () => undefined,
    },
  );
  return {
    items,
    closed,
    stop() {
      unsubscribe();
      void client.dispose();
    },
  };
}
