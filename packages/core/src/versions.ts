/** Compares dotted Redis versions ("7.0.15", "2.8"): negative, 0 or positive. */
export function compareVersions(a: string, b: string): number {
  const x = a.split('.').map((n) => Number.parseInt(n, 10) || 0);
  const y = b.split('.').map((n) => Number.parseInt(n, 10) || 0);
  for (let i = 0; i < 3; i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) - (y[i] ?? 0);
  return 0;
}

/** The RDB version a Redis release writes, which is also the newest its RESTORE accepts. */
export function rdbVersionOf(redisVersion: string): number {
  const [maj = 0, min = 0] = redisVersion.split('.').map(Number);
  const v = maj * 100 + min;
  if (v >= 704) return 12;
  if (v >= 702) return 11;
  if (v >= 700) return 10;
  if (v >= 500) return 9;
  if (v >= 400) return 8;
  if (v >= 302) return 7;
  return 6;
}
