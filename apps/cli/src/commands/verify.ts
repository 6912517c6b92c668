import { createWriteStream, type WriteStream } from 'node:fs';
import {
  composeTransforms,
  type Endpoint,
  endpointName,
  type FerryPlugin,
  type SourceTopologyPlugin,
  type TransformPlugin,
} from '@ferry/core';
import { FerryError } from '@ferry/errors';
import { type Difference, type SideSpec, type VerifyMode, verify } from '@ferry/verify';
import type { Io } from '../io.js';
import { sourcePlugins } from '../plugins.js';
import { buildTaskSpec, number, parseTaskCommand, reportError } from '../task-args.js';

export const verifyUsage = (
  taskUsage: string,
): string => `Usage: ferry verify --source URL --target URL [options]

Compares the source with the target key by key, both ways, under the same mapping a migration
uses (--db-map, --rename-prefix, --filter): keys missing on the target, extra on the target, of
another type, another length, another value, another expiry. Differences are re-checked in later
rounds so that writes still in flight drop out. Reads only.
Exit code: 0 no difference, 1 differences, 2 bad input.

${taskUsage}  --mode MODE             outline | length | full (default)
  --sample RATE           check this fraction of the keys (0 < RATE ≤ 1), chosen at random
  --rounds N              default 3
  --interval SECONDS      between rounds, default 1
  --ttl-tolerance MS      expiry times may differ this much, default 2000
  --rate N                keys compared per second at most
  --out FILE              every difference of the last round as JSON lines
  --json                  the report as JSON
`;

function diffJson(d: Difference): Record<string, unknown> {
  const text = (b: Buffer): string | { base64: string } => {
    const s = b.toString('utf8');
    return Buffer.from(s, 'utf8').equals(b) ? s : { base64: b.toString('base64') };
  };
  return {
    kind: d.kind,
    db: d.db,
    key: text(d.key),
    targetDb: d.targetDb,
    targetKey: text(d.targetKey),
    detail: d.detail,
  };
}

export async function verifyCommand(
  argv: string[],
  io: Io,
  plugins: FerryPlugin[] = sourcePlugins(),
): Promise<number> {
  const args = parseTaskCommand('verify', argv, io, plugins, verifyUsage);
  if ('exit' in args) return args.exit;
  const { values } = args;
  let out: WriteStream | undefined;
  try {
    const { spec } = buildTaskSpec(values, args.sources);
    const mode = (values.mode as string | undefined) ?? 'full';
    if (!['outline', 'length', 'full'].includes(mode))
      throw new FerryError('CONFIG_INVALID', `--mode must be outline, length or full; got "${mode}"`);
    const sample = number(values.sample as string | undefined, '--sample');
    if (sample !== undefined && !(sample > 0 && sample <= 1))
      throw new FerryError('CONFIG_INVALID', `--sample must be above 0 and at most 1; got ${sample}`);
    const topology = spec.source.topology;
    const nodes = (spec.source.options as { nodes?: Endpoint[] }).nodes ?? [];
    if (topology === 'file')
      throw new FerryError(
        'CONFIG_INVALID',
        'ferry verify compares two servers, and a backup file is not one: ferry migrate --source-file checked the target against the file when it finished (key counts per db, a sample of values); to compare every key, load the file into a server and verify against that',
      );
    if (topology === 'standalone' && nodes.length !== 1)
      throw new FerryError('CONFIG_INVALID', 'ferry verify compares one source server: give --source once');
    if (spec.target.proxy)
      throw new FerryError(
        'CONFIG_INVALID',
        'ferry verify cannot read through a proxy target yet (it needs SCAN)',
      );
    // twemproxy backends and Codis groups: the topology plugin finds the servers, each holding part of the keys
    let source: SideSpec;
    if (topology === 'standalone' || topology === 'cluster')
      source = { endpoint: nodes[0] as Endpoint, cluster: topology === 'cluster' };
    else {
      const plugin = plugins.find((p) => p.kind === 'source-topology' && p.topology === topology) as
        | SourceTopologyPlugin<unknown>
        | undefined;
      if (!plugin) throw new FerryError('CONFIG_INVALID', `unknown source topology "${topology}"`);
      const shards = await plugin.discover(plugin.parseOptions(spec.source.options), {
        taskId: 'verify',
        signal: new AbortController().signal,
        log: { debug() {}, info() {}, warn() {} },
        emit() {},
      });
      source = { shards: shards.map((s) => s.primary) };
    }
    const o = spec.options ?? {};
    // the task's key transforms, from the plugins loaded (--plugin, FERRY_PLUGINS), in order
    const transform = composeTransforms(
      (o.transforms ?? []).map((id) => {
        const t = plugins.find((p): p is TransformPlugin => p.kind === 'transform' && p.id === id);
        if (!t)
          throw new FerryError(
            'CONFIG_INVALID',
            `no transform "${id}" is loaded: add --plugin with the package that brings it (or FERRY_PLUGINS)`,
          );
        return t;
      }),
    );
    if (values.out) out = createWriteStream(values.out as string);
    const started = Date.now();
    const report = await verify({
      source,
      target: { endpoint: spec.target.endpoint, cluster: Boolean(spec.target.cluster) },
      mode: mode as VerifyMode,
      ...(sample !== undefined ? { sample } : {}),
      rounds: number(values.rounds as string | undefined, '--rounds') ?? 3,
      intervalMs: (number(values.interval as string | undefined, '--interval') ?? 1) * 1000,
      ttlToleranceMs: number(values['ttl-tolerance'] as string | undefined, '--ttl-tolerance') ?? 2000,
      keysPerSec: number(values.rate as string | undefined, '--rate') ?? 0,
      ...(o.dbMap ? { dbMap: o.dbMap } : {}),
      ...(o.renamePrefix ? { renamePrefix: o.renamePrefix } : {}),
      ...(o.filter ? { filter: o.filter } : {}),
      ...(transform ? { transform } : {}),
      ...(o.reservedPrefix ? { reservedPrefix: o.reservedPrefix } : {}),
      ...(out ? { onDifference: (d: Difference) => out?.write(`${JSON.stringify(diffJson(d))}\n`) } : {}),
      onProgress: (p) => {
        if (!values.json)
          io.err(
            `ferry verify: round ${p.round}: ${p.keysChecked} keys checked, ${p.differences} differences so far\n`,
          );
      },
    });
    if (values.json)
      io.out(`${JSON.stringify({ ...report, details: report.details.map(diffJson) }, null, 2)}\n`);
    else {
      const c = report.counts;
      io.out(
        [
          `ferry verify (${report.mode}): ${'shards' in source ? `${topology} ${source.shards.map(endpointName).join(', ')}` : endpointName(source.endpoint)} → ${endpointName(spec.target.endpoint)}${spec.target.cluster ? ' (cluster)' : ''}`,
          `  ${report.keysChecked} keys checked in ${((Date.now() - started) / 1000).toFixed(1)} s, ${report.rounds} round(s): ${report.perRound.join(' → ')} differences`,
          report.oneWay ? `  source → target only: ${report.oneWay}` : '',
          report.differences === 0
            ? report.oneWay
              ? '  no difference: every source key is on the target as it is on the source'
              : '  no difference: the target holds what the source holds'
            : `  ${report.differences} difference(s): missing ${c.missing}, extra ${c.extra}, type ${c.type}, length ${c.length}, value ${c.value}, ttl ${c.ttl}`,
          ...report.details
            .slice(0, 20)
            .map(
              (d) =>
                `    ${d.kind.padEnd(7)} db ${d.db} ${JSON.stringify(d.key.toString('latin1').slice(0, 60))}: ${d.detail}`,
            ),
          report.details.length > 20
            ? `    … ${report.differences - 20} more${values.out ? ` in ${values.out}` : ' (--out FILE lists all)'}`
            : '',
          '',
        ]
          .filter((l, i, a) => l !== '' || i === a.length - 1)
          .join('\n'),
      );
    }
    return report.differences === 0 ? 0 : 1;
  } catch (err) {
    return reportError(err, io);
  } finally {
    await new Promise<void>((r) => (out ? out.end(r) : r()));
  }
}
