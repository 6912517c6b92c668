// @vitest-environment happy-dom
// The console's components rendered in happy-dom against a real gateway process (its GraphQL over
// HTTP): no network layer is faked. Charts (canvas) and subscriptions are left to the Chromium run.
import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { App } from '../src/App.js';
import { type RunningGateway, startGatewayProcess, TOKEN } from './gateway.js';

let gw: RunningGateway;
beforeAll(async () => {
  gw = await startGatewayProcess();
  // the page's own origin is the gateway's, as when the gateway serves the console
  (window as unknown as { happyDOM: { setURL(u: string): void } }).happyDOM.setURL(`${gw.origin}/tasks`);
});
afterAll(async () => {
  await gw?.stop();
});
afterEach(() => {
  cleanup();
  sessionStorage.clear();
});

const type = (el: HTMLElement, value: string): void => {
  fireEvent.change(el, { target: { value } });
};

describe('sign in', () => {
  it('a wrong token is refused with a reason and not kept; the right one opens the tasks', async () => {
    render(<App origin={gw.origin} />);
    type(screen.getByLabelText('API token'), 'not-the-token');
    fireEvent.click(screen.getByRole('button', { name: 'Sign in' }));
    expect((await screen.findByRole('alert')).textContent).toMatch(/refused this token/);
    expect(sessionStorage.getItem('ferry.token')).toBeNull();
    expect((screen.getByLabelText('API token') as HTMLInputElement).value).toBe('');

    type(screen.getByLabelText('API token'), TOKEN);
    fireEvent.click(screen.getByRole('button', { name: 'Sign in' }));
    expect(await screen.findByRole('heading', { name: 'Tasks' })).toBeTruthy();
    expect(screen.getByRole('button', { name: 'Create task' })).toBeTruthy();
    expect(sessionStorage.getItem('ferry.token')).toBe(TOKEN);
    // the token is in no URL
    expect(window.location.href).not.toContain(TOKEN);
    fireEvent.click(screen.getByRole('button', { name: 'Sign out' }));
    expect(await screen.findByRole('button', { name: 'Sign in' })).toBeTruthy();
    expect(sessionStorage.getItem('ferry.token')).toBeNull();
  });
});

describe('create task wizard', () => {
  it('validates as the operator types, names the problem next to its field, and Save goes to the step to fix', async () => {
    sessionStorage.setItem('ferry.token', TOKEN);
    window.history.pushState(null, '', '/tasks/new');
    render(<App origin={gw.origin} />);
    expect(await screen.findByRole('heading', { name: 'Create task' })).toBeTruthy();
    // the topologies come from the gateway's registered plugins
    fireEvent.click(screen.getByRole('button', { name: '2. Source' }));
    const topology = (await screen.findByLabelText('Source topology')) as HTMLSelectElement;

    await waitFor(() =>
      expect([...topology.options].map((o) => o.value)).toEqual([
        'standalone',
        'cluster',
        'twemproxy',
        'codis',
        'file',
      ]),
    );
    type(screen.getByLabelText('Source nodes'), '10.0.0.5:6379\nredis-b');
    expect(screen.getByText('line 2: expected host:port or host:port:password')).toBeTruthy();
    type(screen.getByLabelText('Source nodes'), '127.0.0.1:1');
    // an unreachable node: one line per node, saying what happened
    fireEvent.click(screen.getByRole('button', { name: 'Test connectivity' }));
    const results = await screen.findByRole('list', { name: 'Source connectivity' });
    await waitFor(() =>
      expect(results.textContent).toMatch(/127\.0\.0\.1:1: failed — .*(refused|ECONNREFUSED)/i),
    );
    fireEvent.click(screen.getByRole('button', { name: '4. Options' }));
    type(screen.getByLabelText('Key filters'), '**[[');
    expect(screen.getByText('line 1: in "**[[" the [ at 3 is never closed')).toBeTruthy();
    fireEvent.click(screen.getByRole('button', { name: 'Save' }));
    // the first problem is on step 1 (no name): the wizard goes there and says so
    expect((await screen.findAllByRole('alert')).map((a) => a.textContent).join(' ')).toMatch(
      /Fix this first: a task needs a name/,
    );
    expect(screen.getByLabelText('Task name')).toBeTruthy();
  });
});
