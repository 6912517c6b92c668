import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Gateway, startGateway } from '../src/index.js';

// A console folder laid out as `vite build` makes it (the real build is served in the console's
// own Chromium tests); here: what the gateway serves, to whom, and what it refuses.
let gw: Gateway;
let origin: string;
beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-static-'));
  mkdirSync(join(dir, 'assets'));
  writeFileSync(join(dir, 'index.html'), '<!doctype html><title>Ferry console</title>');
  writeFileSync(join(dir, 'assets', 'app-1.js'), 'console.log(1)');
  writeFileSync(join(dir, '..', 'outside.txt'), 'not served');
  gw = await startGateway({
    port: 0,
    dataDir: mkdtempSync(join(tmpdir(), 'ferry-static-data-')),
    tokens: ['test-token'],
    logger: pino({ level: 'silent' }),
    consoleDir: dir,
  });
  origin = gw.url.replace('/graphql', '');
});
afterAll(async () => {
  await gw?.close();
});

describe('the gateway serves the web console', () => {
  it('at / and on its own routes without a token (the page holds no data), with a strict CSP', async () => {
    for (const path of ['/', '/tasks', '/tasks/t-1/precheck']) {
      const res = await fetch(origin + path);
      expect(res.status, path).toBe(200);
      expect(await res.text()).toContain('<title>Ferry console</title>');
      expect(res.headers.get('content-security-policy')).toContain("connect-src 'self'");
      expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    }
    const asset = await fetch(`${origin}/assets/app-1.js`);
    expect(asset.headers.get('content-type')).toMatch(/javascript/);
    expect(asset.headers.get('cache-control')).toContain('immutable');
  });

  it('a missing asset, a path out of the folder, and the API without a token are refused', async () => {
    expect((await fetch(`${origin}/assets/missing.js`)).status).toBe(404); // not the page, and no token asked
    for (const path of ['/../outside.txt', '/%2e%2e/outside.txt', '/assets/..%2f..%2foutside.txt']) {
      const res = await fetch(origin + path);
      expect(await res.text(), path).not.toContain('not served');
    }
    expect((await fetch(`${origin}/metrics`)).status).toBe(401);
    const api = await fetch(gw.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"query":"{ tasks { total } }"}',
    });
    expect(api.status).toBe(401);
  });

  it('/auth/check says whether a token is good, as a yes or no', async () => {
    const check = async (token: string): Promise<unknown> =>
      (
        await fetch(`${origin}/auth/check`, { method: 'POST', headers: { authorization: `Bearer ${token}` } })
      ).json();
    expect(await check('test-token')).toEqual({ valid: true });
    expect(await check('wrong')).toEqual({ valid: false });
  });
});
