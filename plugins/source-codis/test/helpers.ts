import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** The pinned GET /topom answer of a Codis 3.2 dashboard (see fixtures/README.md). */
export function topomFixture(): Record<string, unknown> {
  return JSON.parse(readFileSync(new URL('./fixtures/topom-3.2.json', import.meta.url), 'utf8')) as Record<
    string,
    unknown
  >;
}

/** The fixture with its server addresses replaced (fixture address → real one). */
export function withAddresses(
  doc: Record<string, unknown>,
  map: Record<string, string>,
): Record<string, unknown> {
  let text = JSON.stringify(doc);
  for (const [from, to] of Object.entries(map)) text = text.split(`"${from}"`).join(`"${to}"`);
  return JSON.parse(text) as Record<string, unknown>;
}

/**
 * A stand-in for codis-dashboard's HTTP API on loopback: it answers GET /topom with whatever
 * `body()` returns (no codis-dashboard runs here; the answer is Codis's own format, pinned).
 */
export async function serveDashboard(
  body: () => unknown,
): Promise<{ url: string; hits: () => number; close(): Promise<void> }> {
  let hits = 0;
  const server: Server = createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/topom') {
      hits++;
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
      res.end(JSON.stringify(body()));
      return;
    }
    res.writeHead(404).end('not found');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    hits: () => hits,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
