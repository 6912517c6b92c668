#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { main } from './run.js';

// A reader that goes away (`ferry rdb dump.rdb | head`) is not an error: stop quietly.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  version: string;
};
const code = await main(
  process.argv.slice(2),
  {
    out: (t) => process.stdout.write(t),
    err: (t) => process.stderr.write(t),
    // wait for stdout to drain so piping a big RDB's JSON lines never buffers without bound
    write: (t) =>
      new Promise<void>((resolve, reject) => {
        if (process.stdout.write(t)) resolve();
        else process.stdout.once('drain', resolve).once('error', reject);
      }),
  },
  version,
);
process.exitCode = code;
// The command has returned: its work is done and nothing may keep the process up (a connection a
// failed command left open would make `ferry verify` hang instead of exiting with its code). Exit
// as soon as what it printed has left — at once where stdout and stderr write synchronously (files,
// terminals, pipes on Linux) — rather than after connections finish closing and threads stop (20–40
// ms of every run); never later than 2 s.
const pending = [process.stdout, process.stderr].filter((s) => s.writableLength > 0);
if (pending.length === 0) process.exit(code);
let left = pending.length;
for (const s of pending)
  s.once('drain', () => {
    if (--left === 0) process.exit(code);
  });
setTimeout(() => process.exit(code), 2000).unref();
