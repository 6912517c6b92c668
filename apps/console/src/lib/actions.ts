import { useState } from 'react';
import { useMutation } from 'urql';
import { useLocation } from 'wouter';
import {
  CloneMutation,
  CompleteMutation,
  DeleteMutation,
  PauseMutation,
  ResumeMutation,
  RetryMutation,
  StartMutation,
  StopMutation,
} from '../api.js';
import { errorText } from '../components/ui.js';

/** The buttons' words for the API's actions (`complete` is the DTS consoles' "Done"). */
export const ACTION_LABEL: Record<string, string> = {
  precheck: 'Run precheck',
  acknowledgeWarnings: 'Acknowledge warnings',
  start: 'Start',
  schedule: 'Schedule',
  pause: 'Pause',
  resume: 'Resume',
  stop: 'Stop',
  complete: 'Done',
  retry: 'Retry',
  clone: 'Clone',
  delete: 'Delete',
  update: 'Edit',
  setRateLimit: 'Rate limit…',
};

/** Runs a task action through its mutation; the precheck steps open the precheck page. */
export function useTaskActions(): {
  run(action: string, id: string, o?: { force?: boolean }): Promise<boolean>;
  busy: boolean;
  error: string | null;
  clear(): void;
} {
  const [, navigate] = useLocation();
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [, start] = useMutation(StartMutation);
  const [, pause] = useMutation(PauseMutation);
  const [, resume] = useMutation(ResumeMutation);
  const [, stop] = useMutation(StopMutation);
  const [, retry] = useMutation(RetryMutation);
  const [, complete] = useMutation(CompleteMutation);
  const [, clone] = useMutation(CloneMutation);
  const [, remove] = useMutation(DeleteMutation);
  const run = async (action: string, id: string, o: { force?: boolean } = {}): Promise<boolean> => {
    setError(null);
    if (action === 'precheck' || action === 'acknowledgeWarnings' || action === 'schedule') {
      navigate(`/tasks/${encodeURIComponent(id)}/precheck`);
      return true;
    }
    if (action === 'update') {
      navigate(`/tasks/${encodeURIComponent(id)}/edit`);
      return true;
    }
    if (action === 'setRateLimit') {
      navigate(`/tasks/${encodeURIComponent(id)}#rate-limit`);
      return true;
    }
    setBusy(true);
    try {
      const vars = { id };
      const r =
        action === 'start'
          ? await start(vars)
          : action === 'pause'
            ? await pause(vars)
            : action === 'resume'
              ? await resume(vars)
              : action === 'stop'
                ? await stop(vars)
                : action === 'retry'
                  ? await retry(vars)
                  : action === 'complete'
                    ? await complete({ id, force: Boolean(o.force) })
                    : action === 'clone'
                      ? await clone(vars)
                      : action === 'delete'
                        ? await remove(vars)
                        : undefined;
      if (!r) {
        setError(`"${action}" is not something the console can do`);
        return false;
      }
      if (r.error) {
        setError(errorText(r.error));
        return false;
      }
      if (action === 'clone' && r.data && 'cloneTask' in r.data)
        navigate(`/tasks/${encodeURIComponent(r.data.cloneTask.id)}/precheck`);
      if (action === 'delete') navigate('/tasks');
      return true;
    } finally {
      setBusy(false);
    }
  };
  return { run, busy, error, clear: () => setError(null) };
}

/** The actions as buttons: every allowed one (a row), or all but those with a form on the page. */
export function buttonActions(allowed: readonly string[], except: readonly string[] = []): string[] {
  return allowed.filter((a) => a in ACTION_LABEL && !except.includes(a));
}
