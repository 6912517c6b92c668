import { type ParseArgsConfig, parseArgs } from 'node:util';
import type { Io } from './io.js';

export type ArgValues = Record<string, string | boolean | string[] | undefined>;

/**
 * Parses a command's arguments (`-h`/`--help` added): the values and positionals, or the exit code
 * once it has printed the usage (0 for --help) or the error followed by the usage (2).
 */
export function parseCommandArgs(
  command: string,
  argv: string[],
  options: NonNullable<ParseArgsConfig['options']>,
  usage: string,
  io: Io,
  allowPositionals = false,
): { values: ArgValues; positionals: string[] } | { exit: number } {
  let parsed: { values: ArgValues; positionals: string[] };
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals,
      options: { ...options, help: { type: 'boolean', short: 'h' } },
    }) as { values: ArgValues; positionals: string[] };
  } catch (err) {
    io.err(`ferry ${command}: ${(err as Error).message}\n\n${usage}`);
    return { exit: 2 };
  }
  if (parsed.values.help) {
    io.out(usage);
    return { exit: 0 };
  }
  return parsed;
}
