/** Bytes as JSON: a string when they are valid UTF-8, else {"base64": …} (so binary survives). */
export function bytesJson(b: Buffer): string {
  const text = b.toString('utf8');
  return Buffer.byteLength(text) === b.length && !text.includes('\uFFFD')
    ? JSON.stringify(text)
    : JSON.stringify({ base64: b.toString('base64') });
}

/** A score as JSON: ±inf have no JSON number, so they are written as strings. */
export function scoreJson(n: number): string {
  return Number.isFinite(n) ? JSON.stringify(n) : n > 0 ? '"inf"' : '"-inf"';
}
