import { type FerryPlugin, loadPlugins } from '@ferry/core';
import { checkCommand } from './commands/check.js';
import { migrateCommand } from './commands/migrate.js';
import { rdbCommand } from './commands/rdb.js';
import { tokenCommand } from './commands/token.js';
import { verifyCommand } from './commands/verify.js';
import { COMMANDS } from './commands.js';
import type { Io } from './io.js';
import { pluginRequests, sourcePlugins } from './plugins.js';
import { reportError } from './task-args.js';

export type { Io } from './io.js';

export function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  const lines = COMMANDS.map(
    (c) => `  ${c.name.padEnd(width)}  ${c.summary}${c.available ? '' : ' (not in this build yet)'}`,
  );
  return [
    'ferry: live migration for Redis (full + incremental), self-hosted',
    '',
    'Usage: ferry <command> [options]',
    '',
    'Commands:',
    ...lines,
    '',
    'Options:',
    '  -h, --help     show this help',
    '  -V, --version  show the version',
    '  --plugin NAME  load a plugin package (migrate, check, verify; FERRY_PLUGINS=a,b too)',
    '',
  ].join('\n');
}

/** Runs the CLI with `argv` (without node and script); returns the exit code. */
export async function main(argv: string[], io: Io, version: string): Promise<number> {
  const [first] = argv;
  if (first === undefined || first === '-h' || first === '--help' || first === 'help') {
    io.out(usage());
    return 0;
  }
  if (first === '-V' || first === '--version') {
    io.out(`${version}\n`);
    return 0;
  }
  const command = COMMANDS.find((c) => c.name === first);
  if (!command) {
    io.err(`ferry: unknown command "${first}". Run "ferry --help" for the list.\n`);
    return 2;
  }
  if (command.name === 'rdb') return rdbCommand(argv.slice(1), io);
  if (command.name === 'migrate' || command.name === 'check' || command.name === 'verify') {
    let plugins: FerryPlugin[];
    let rest: string[];
    try {
      const asked = pluginRequests(argv.slice(1), process.env.FERRY_PLUGINS);
      rest = asked.argv;
      plugins = [...sourcePlugins(), ...(await loadPlugins(asked.names))];
    } catch (err) {
      return reportError(err, io);
    }
    if (command.name === 'migrate') return migrateCommand(rest, io, plugins);
    if (command.name === 'check') return checkCommand(rest, io, Boolean(process.stdout.isTTY), plugins);
    return verifyCommand(rest, io, plugins);
  }
  if (command.name === 'token') return tokenCommand(argv.slice(1), io);
  io.err(`ferry: "${command.name}" is not in this build yet (${command.summary}).\n`);
  return 2;
}
