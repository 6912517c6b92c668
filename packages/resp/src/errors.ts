/** The error prefixes Redis sends that Ferry acts on; anything else is "ERR"-like generic. */
export type ReplyErrorKind =
  | 'MOVED'
  | 'ASK'
  | 'TRYAGAIN'
  | 'LOADING'
  | 'NOAUTH'
  | 'WRONGPASS'
  | 'NOPERM'
  | 'BUSY'
  | 'CLUSTERDOWN'
  | 'MASTERDOWN'
  | 'READONLY'
  | 'NOSCRIPT'
  | 'WRONGTYPE'
  | 'OOM'
  | 'EXECABORT'
  | 'ERR';

const KINDS = new Set<string>([
  'MOVED',
  'ASK',
  'TRYAGAIN',
  'LOADING',
  'NOAUTH',
  'WRONGPASS',
  'NOPERM',
  'BUSY',
  'CLUSTERDOWN',
  'MASTERDOWN',
  'READONLY',
  'NOSCRIPT',
  'WRONGTYPE',
  'OOM',
  'EXECABORT',
]);

/** An error reply from the server (`-PREFIX message`). `prefix` is the first word as sent. */
export class ReplyError extends Error {
  override name = 'ReplyError';
  readonly kind: ReplyErrorKind;
  readonly prefix: string;
  /** The command that got this reply (name and first argument), set by the connection. */
  command?: string;

  constructor(readonly reply: string) {
    super(reply);
    const space = reply.indexOf(' ');
    this.prefix = space < 0 ? reply : reply.slice(0, space);
    this.kind = KINDS.has(this.prefix) ? (this.prefix as ReplyErrorKind) : 'ERR';
  }

  /** Errors a client should retry after a pause (the node is busy, loading or resharding). */
  get retryable(): boolean {
    return (
      this.kind === 'TRYAGAIN' ||
      this.kind === 'LOADING' ||
      this.kind === 'CLUSTERDOWN' ||
      this.kind === 'MASTERDOWN' ||
      this.kind === 'BUSY'
    );
  }
}

/** `-MOVED <slot> <host>:<port>` or `-ASK <slot> <host>:<port>`: where the slot's keys are now. */
export class RedirectError extends ReplyError {
  override name = 'RedirectError';
  readonly slot: number;
  readonly host: string;
  readonly port: number;

  constructor(reply: string) {
    super(reply);
    const [, slot, addr] = reply.split(' ');
    const colon = addr?.lastIndexOf(':') ?? -1;
    this.slot = Number(slot);
    this.host = colon > 0 ? (addr?.slice(0, colon) ?? '') : '';
    this.port = colon > 0 ? Number(addr?.slice(colon + 1)) : Number.NaN;
  }
}

/** Builds the typed error for an error reply. */
export function replyError(message: string): ReplyError {
  return message.startsWith('MOVED ') || message.startsWith('ASK ')
    ? new RedirectError(message)
    : new ReplyError(message);
}
