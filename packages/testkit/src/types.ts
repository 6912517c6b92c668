/** Where a server listens and how to log in to it. */
export interface Endpoint {
  host: string;
  port: number;
  username?: string;
  password?: string;
}

/** Formats an endpoint as Ferry's node spec `host:port[:password]` (the form users paste). */
export function endpointSpec(e: Endpoint): string {
  return e.password ? `${e.host}:${e.port}:${e.password}` : `${e.host}:${e.port}`;
}

/** A `redis://` URL for an endpoint (user and password percent-encoded). */
export function endpointUrl(e: Endpoint): string {
  const auth =
    e.username || e.password
      ? `${encodeURIComponent(e.username ?? '')}${e.password ? `:${encodeURIComponent(e.password)}` : ''}@`
      : '';
  return `redis://${auth}${e.host}:${e.port}`;
}
