import { FerryError } from '@ferry/errors';
import { type Arg, decodeAll, RedirectError, ReplyError, type WireCommand } from '@ferry/resp';

/** Joins "cmd key" for messages, keys shown readably. */
export function describeCommand(command: WireCommand): string {
  let argv: readonly Arg[];
  try {
    argv = Buffer.isBuffer(command) ? ((decodeAll(command)[0] as Buffer[] | undefined) ?? []) : command;
  } catch {
    argv = ['(unreadable command)'];
  }
  const show = (a: Arg | undefined): string => {
    if (a === undefined) return '';
    const s = Buffer.isBuffer(a) ? a.toString('latin1') : String(a);
    const printable = JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}…` : s);
    return printable;
  };
  const name =
    argv[0] === undefined
      ? ''
      : (Buffer.isBuffer(argv[0]) ? argv[0].toString('latin1') : String(argv[0])).toUpperCase();
  return argv.length > 1 ? `${name} ${show(argv[1])}` : name;
}

export function firstRedirect(err: unknown): RedirectError | undefined {
  if (err instanceof RedirectError) return err;
  return undefined;
}

/** A target's refusal as Ferry's error, naming the node and the command. */
export function wrapError(err: unknown, cmds: ReadonlyArray<WireCommand>, node: string): Error {
  if (err instanceof ReplyError) {
    const what = err.command ?? describeCommand(cmds[0] ?? []);
    return new FerryError('TARGET_WRITE_FAILED', `target ${node} refused ${what}: ${err.message}`, {
      cause: err,
      details: { reply: err.message, kind: err.kind, command: what },
    });
  }
  return err instanceof Error ? err : new Error(String(err));
}
