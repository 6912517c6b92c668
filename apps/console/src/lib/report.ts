/** A difference as the gateway reports it (keys as latin1 text). */
export interface Difference {
  kind: string;
  db: number;
  key: string;
  targetDb: number;
  targetKey: string;
  detail?: string;
}

export function asDifferences(details: ReadonlyArray<Record<string, unknown>>): Difference[] {
  return details.map((d) => ({
    kind: String(d.kind ?? ''),
    db: Number(d.db ?? 0),
    key: String(d.key ?? ''),
    targetDb: Number(d.targetDb ?? d.db ?? 0),
    targetKey: String(d.targetKey ?? d.key ?? ''),
    ...(d.detail ? { detail: String(d.detail) } : {}),
  }));
}

/** missing / extra as they are; type, length, value and ttl are all "different". */
export function group(kind: string): 'missing' | 'extra' | 'different' {
  return kind === 'missing' || kind === 'extra' ? kind : 'different';
}

/** RFC 4180 CSV: every field quoted, quotes doubled; a header line. */
export function toCsv(rows: Difference[]): string {
  const q = (v: string | number): string => `"${String(v).replaceAll('"', '""')}"`;
  const head = ['group', 'kind', 'db', 'key', 'target_db', 'target_key', 'detail'];
  return [
    head.map(q).join(','),
    ...rows.map((r) =>
      [group(r.kind), r.kind, r.db, r.key, r.targetDb, r.targetKey, r.detail ?? ''].map(q).join(','),
    ),
  ]
    .join('\r\n')
    .concat('\r\n');
}
