/** Where a command writes: `write` honours stdout backpressure (JSON lines of a big file). */
export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
  write: (text: string) => Promise<void>;
}
