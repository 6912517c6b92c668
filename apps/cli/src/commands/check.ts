import { join } from 'node:path';
import { builtinChecks } from '@ferry/checks-builtin';
import { type CheckReport, createEngine, type FerryPlugin } from '@ferry/core';
import type { Io } from '../io.js';
import { sourcePlugins } from '../plugins.js';
import { buildTaskSpec, describeTask, parseTaskCommand, reportError } from '../task-args.js';
import { wrapText } from '../text.js';

export const checkUsage = (
  taskUsage: string,
): string => `Usage: ferry check --source URL --target URL [options]

Prechecks a migration without moving any data: connectivity, replication permission, versions,
target emptiness, memory, databases, eviction policy, import mode (Valkey 8.1+), buffers,
cluster coverage, modules, big keys and spool disk. Checks only read; none writes to either side
or makes the source fork.
Exit code: 0 all pass, 1 warnings (read them before you start), 2 a failure (the migration
would not work as given).

${taskUsage}  --json                  the report as JSON (the default when stdout is not a terminal)
`;

const EXIT = { pass: 0, warn: 1, fail: 2 } as const;

/** The report as a table: status, check, what it saw, and what to do. */
export function formatReport(report: CheckReport, title: string, width = 100): string {
  const idWidth = Math.max(...report.results.map((r) => r.checkId.length), 5);
  const wrap = (text: string, indent: number): string => wrapText(text, indent, width);
  const indent = 2 + 4 + 2 + idWidth + 2;
  const rows = report.results.map((r) => {
    const head = `  ${r.status.toUpperCase().padEnd(4)}  ${r.checkId.padEnd(idWidth)}  ${wrap(r.message, indent)}`;
    return r.advice && r.status !== 'pass'
      ? `${head}\n${' '.repeat(indent)}→ ${wrap(r.advice, indent + 2)}`
      : head;
  });
  const fails = report.results.filter((r) => r.status === 'fail').length;
  const warns = report.results.filter((r) => r.status === 'warn').length;
  const verdict =
    report.status === 'fail'
      ? `FAIL: ${fails} failure(s), ${warns} warning(s). The migration would not work as given: fix the failures.`
      : report.status === 'warn'
        ? `WARN: ${warns} warning(s). The migration can run; read the warnings and acknowledge them before you start.`
        : 'PASS: everything checked is ready for the migration.';
  return `${title} (${(report.durationMs / 1000).toFixed(1)} s)\n\n${rows.join('\n')}\n\n${verdict}\n`;
}

export async function checkCommand(
  argv: string[],
  io: Io,
  stdoutIsTty = Boolean(process.stdout.isTTY),
  plugins: FerryPlugin[] = sourcePlugins(),
): Promise<number> {
  const args = parseTaskCommand('check', argv, io, plugins, checkUsage);
  if ('exit' in args) return args.exit;
  const { values } = args;
  try {
    const { spec, stateDir } = buildTaskSpec(values, args.sources);
    const engine = createEngine({
      plugins: [...plugins, ...builtinChecks()],
      spoolDir: join(stateDir, 'spool'),
    });
    const task = engine.createTask(spec);
    const report = await task.check();
    if (values.json || !stdoutIsTty) io.out(`${JSON.stringify(report, null, 2)}\n`);
    else {
      const title = `ferry check: ${describeTask(spec, args.sources)}`;
      io.out(formatReport(report, title, process.stdout.columns ?? 100));
    }
    return EXIT[report.status];
  } catch (err) {
    return reportError(err, io);
  }
}
