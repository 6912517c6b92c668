import { type ReactNode, useMemo } from 'react';
import { Provider } from 'urql';
import { Link, Redirect, Route, Switch, useLocation } from 'wouter';
import { AuthProvider, useAuth } from './auth.js';
import { makeClient } from './client.js';
import { Alarms } from './pages/Alarms.js';
import { CreateTask } from './pages/CreateTask.js';
import { EditTask } from './pages/EditTask.js';
import { Precheck } from './pages/Precheck.js';
import { SignIn } from './pages/SignIn.js';
import { TaskDetail } from './pages/TaskDetail.js';
import { Tasks } from './pages/Tasks.js';
import { Verify } from './pages/Verify.js';

function Shell({ origin }: { origin?: string }): ReactNode {
  const { token, signOut } = useAuth();
  const [location] = useLocation();
  const client = useMemo(
    () =>
      token
        ? makeClient(token, origin, () => signOut('The gateway no longer accepts this token: sign in again.'))
        : null,
    [token, origin, signOut],
  );
  if (!token || !client) return <SignIn {...(origin ? { origin } : {})} />;
  const here = (p: string): 'page' | undefined =>
    location === p || location.startsWith(`${p}/`) ? 'page' : undefined;
  return (
    <Provider value={client}>
      <a className="skip" href="#content">
        Skip to content
      </a>
      <header className="top">
        <span className="brand">Ferry</span>
        <nav aria-label="Main">
          <Link href="/tasks" aria-current={here('/tasks')}>
            Tasks
          </Link>
          <Link href="/alarms" aria-current={here('/alarms')}>
            Alarms
          </Link>
        </nav>
        <button type="button" onClick={() => signOut()}>
          Sign out
        </button>
      </header>
      <div id="content">
        <Switch>
          <Route path="/">
            <Redirect to="/tasks" />
          </Route>
          <Route path="/tasks" component={Tasks} />
          <Route path="/tasks/new" component={CreateTask} />
          <Route path="/tasks/:id/precheck">{(p) => <Precheck id={decodeURIComponent(p.id)} />}</Route>
          <Route path="/tasks/:id/edit">{(p) => <EditTask id={decodeURIComponent(p.id)} />}</Route>
          <Route path="/tasks/:id/verify">{(p) => <Verify id={decodeURIComponent(p.id)} />}</Route>
          <Route path="/tasks/:id">{(p) => <TaskDetail key={p.id} id={decodeURIComponent(p.id)} />}</Route>
          <Route path="/alarms" component={Alarms} />
          <Route>
            <main>
              <h1>Not here</h1>
              <p>
                There is no such page. <Link href="/tasks">The tasks</Link>
              </p>
            </main>
          </Route>
        </Switch>
      </div>
    </Provider>
  );
}

/** The console. `origin`: the gateway (default: the page's own origin, where the gateway serves it). */
export function App({ origin }: { origin?: string }): ReactNode {
  return (
    <AuthProvider>
      <Shell {...(origin ? { origin } : {})} />
    </AuthProvider>
  );
}
