import { createReadStream, existsSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

/** The page may talk to its own origin only (HTTP and WebSocket), and no one may frame it. */
const HTML_HEADERS = {
  'content-security-policy':
    "default-src 'self'; connect-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};

/** Where the built console is: FERRY_CONSOLE_DIR, else apps/console/dist beside this app. */
export function defaultConsoleDir(): string {
  return process.env.FERRY_CONSOLE_DIR ?? fileURLToPath(new URL('../../console/dist', import.meta.url));
}

/**
 * Serves the web console's static files (no token needed: the page itself holds no data and asks
 * for one); any other path without a file extension gets index.html, so the console's own routes
 * (/tasks/…) load on a refresh. Returns false when the request is not for it.
 */
export function serveConsole(dir: string, req: IncomingMessage, res: ServerResponse, path: string): boolean {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  const root = resolve(dir);
  const index = join(root, 'index.html');
  if (!existsSync(index)) return false;
  let file: string | undefined;
  try {
    const rel = normalize(decodeURIComponent(path)).replace(/^([/\\])+/, '');
    const candidate = resolve(root, rel);
    if (
      (candidate === root || candidate.startsWith(root + sep)) &&
      statSync(candidate, { throwIfNoEntry: false })?.isFile()
    )
      file = candidate;
  } catch {
    file = undefined; // a malformed %-escape: not a file of ours
  }
  if (!file) {
    if (extname(path) !== '') return false; // a missing asset is a 404, not the page
    file = index;
  }
  const type = TYPES[extname(file)] ?? 'application/octet-stream';
  const headers: Record<string, string> = {
    'content-type': type,
    'x-content-type-options': 'nosniff',
    ...(file === index ? HTML_HEADERS : {}),
    ...(file.includes(`${sep}assets${sep}`)
      ? { 'cache-control': 'public, max-age=31536000, immutable' }
      : {}),
  };
  res.writeHead(200, headers);
  if (req.method === 'HEAD') {
    res.end();
    return true;
  }
  createReadStream(file)
    .on('error', () => res.destroy())
    .pipe(res);
  return true;
}
