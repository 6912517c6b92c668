import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEngine, type Engine, MemoryCheckpointStore } from '@ferry/core';
import { verifier } from '@ferry/verify';
import { sourceFile } from '../src/index.js';

/** An engine with the file source, checkpoints in memory and the verifier (the check before done samples values). */
export function engine(): Engine {
  return createEngine({
    plugins: [sourceFile()],
    checkpoints: new MemoryCheckpointStore(),
    spoolDir: mkdtempSync(join(tmpdir(), 'ferry-spool-')),
    verifier,
  });
}
