const nf = new Intl.NumberFormat('en', { maximumFractionDigits: 1 });

export function num(n: number | null | undefined): string {
  return n === null || n === undefined ? '—' : nf.format(n);
}

export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return '—';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${nf.format(v)} ${units[u]}`;
}

export function seconds(s: number | null | undefined): string {
  if (s === null || s === undefined) return '—';
  if (s < 1) return `${Math.round(s * 1000)} ms`;
  if (s < 60) return `${nf.format(s)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s % 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function when(iso: string | null | undefined): string {
  if (!iso) return '—';
  return new Date(iso).toLocaleString('en-GB', { hour12: false });
}

/** `incremental_sync` → `incremental sync`. */
export function words(s: string): string {
  return s.replaceAll('_', ' ');
}
