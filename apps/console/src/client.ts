import { createClient as createWsClient } from 'graphql-ws';
import { Client, cacheExchange, fetchExchange, subscriptionExchange } from 'urql';

/**
 * The console's GraphQL client: queries and mutations over HTTP, subscriptions over graphql-ws,
 * both at the page's own origin (/graphql) with the token as a bearer header / connection param.
 * The token lives in memory and the browser session only; it is never put in a URL.
 */
export function makeClient(
  token: string,
  origin = window.location.origin,
  onUnauthorized?: () => void,
): Client {
  const ws = createWsClient({
    url: `${origin.replace(/^http/, 'ws')}/graphql`,
    connectionParams: { authorization: `Bearer ${token}` },
    lazy: true,
    retryAttempts: 5,
    on: {
      closed: (e) => {
        if ((e as { code?: number }).code === 4403) onUnauthorized?.();
      },
    },
  });
  return new Client({
    url: `${origin}/graphql`,
    requestPolicy: 'cache-and-network',
    // POST always: the gateway's CSRF guard refuses a GET without a JSON content type
    preferGetMethod: false,
    fetchOptions: () => ({ headers: { authorization: `Bearer ${token}` } }),
    fetch: async (input, init) => {
      const res = await fetch(input, init);
      if (res.status === 401) onUnauthorized?.();
      return res;
    },
    exchanges: [
      cacheExchange,
      fetchExchange,
      subscriptionExchange({
        forwardSubscription(request) {
          const input = { ...request, query: request.query || '' };
          return {
            subscribe(sink) {
              const unsubscribe = ws.subscribe(input, sink);
              return { unsubscribe };
            },
          };
        },
      }),
    ],
  });
}

/** Does the gateway accept this token? (/auth/check answers yes or no.) */
export async function checkToken(
  token: string,
  origin = window.location.origin,
): Promise<'ok' | 'refused' | string> {
  try {
    const res = await fetch(`${origin}/auth/check`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
    });
    if (!res.ok) return `the gateway answered ${res.status}`;
    return ((await res.json()) as { valid?: boolean }).valid ? 'ok' : 'refused';
  } catch (err) {
    return `the gateway cannot be reached: ${(err as Error).message}`;
  }
}
