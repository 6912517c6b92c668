import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Root of everything the harness keeps on disk: server dirs, the process registry, port locks. */
export function testkitRoot(): string {
  const root = process.env.FERRY_TESTKIT_DIR ?? join(tmpdir(), 'ferry-testkit');
  mkdirSync(root, { recursive: true, mode: 0o755 });
  return root;
}

export function testkitSubdir(name: string): string {
  const dir = join(testkitRoot(), name);
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  return dir;
}
