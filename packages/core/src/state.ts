import { FerryError } from '@ferry/errors';

export type TaskState =
  | 'created'
  | 'checking'
  | 'check_passed'
  | 'check_failed'
  | 'scheduled'
  | 'preparing'
  | 'full_sync'
  | 'incremental_sync'
  | 'paused'
  | 'completing'
  | 'succeeded'
  | 'stopping'
  | 'stopped'
  | 'failed'
  | 'retrying';

export type TaskAction =
  | 'check'
  | 'start'
  | 'schedule'
  | 'pause'
  | 'resume'
  | 'stop'
  | 'complete'
  | 'retry'
  | 'clone'
  | 'delete';

/** What a user may do in each state; everything else is refused with a clear error. */
export const ALLOWED_ACTIONS: Readonly<Record<TaskState, readonly TaskAction[]>> = {
  created: ['check', 'start', 'schedule', 'clone', 'delete'],
  checking: ['stop', 'clone'],
  check_passed: ['start', 'schedule', 'check', 'clone', 'delete'],
  check_failed: ['check', 'start', 'clone', 'delete'],
  scheduled: ['start', 'stop', 'clone', 'delete'],
  preparing: ['stop', 'clone'],
  full_sync: ['pause', 'stop', 'clone'],
  incremental_sync: ['pause', 'stop', 'complete', 'clone'],
  paused: ['resume', 'stop', 'clone'],
  completing: ['clone'],
  succeeded: ['clone', 'delete'],
  stopping: ['clone'],
  stopped: ['retry', 'clone', 'delete'],
  failed: ['retry', 'clone', 'delete'],
  retrying: ['stop', 'clone'],
};

/** The transitions the engine itself makes. */
const TRANSITIONS: Readonly<Record<TaskState, readonly TaskState[]>> = {
  created: ['checking', 'preparing', 'scheduled'],
  checking: ['check_passed', 'check_failed', 'stopping'],
  check_passed: ['preparing', 'scheduled', 'checking'],
  check_failed: ['checking', 'preparing'],
  scheduled: ['preparing', 'stopping'],
  preparing: ['full_sync', 'incremental_sync', 'failed', 'stopping', 'retrying'],
  full_sync: ['incremental_sync', 'paused', 'failed', 'stopping', 'retrying'],
  incremental_sync: ['paused', 'completing', 'failed', 'stopping', 'retrying', 'full_sync'],
  paused: ['full_sync', 'incremental_sync', 'stopping', 'failed'],
  completing: ['succeeded', 'failed'],
  succeeded: [],
  stopping: ['stopped'],
  stopped: ['preparing'],
  failed: ['preparing'],
  retrying: ['preparing', 'full_sync', 'incremental_sync', 'stopping', 'failed'],
};

export function assertAllowed(state: TaskState, action: TaskAction): void {
  if (!ALLOWED_ACTIONS[state].includes(action)) {
    throw new FerryError(
      'CONFIG_INVALID',
      `cannot ${action} a task that is ${state.replace('_', ' ')} (allowed: ${ALLOWED_ACTIONS[state].join(', ') || 'nothing'})`,
    );
  }
}

export function canTransition(from: TaskState, to: TaskState): boolean {
  return TRANSITIONS[from].includes(to);
}
