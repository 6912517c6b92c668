import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryCheckpointStore } from './checkpoint.js';
import { type FerryPlugin, PluginRegistry } from './plugins.js';
import { type EngineServices, Task, type TaskSpec } from './task.js';

export interface EngineOptions extends Partial<EngineServices> {
  plugins: FerryPlugin[];
}

export interface Engine {
  readonly registry: PluginRegistry;
  createTask(spec: TaskSpec): Task;
}

/** The engine with its plugins registered (duplicates and engine-version mismatches are refused). */
export function createEngine(options: EngineOptions): Engine {
  const registry = new PluginRegistry();
  for (const p of options.plugins) registry.register(p);
  const services: EngineServices = {
    checkpoints: options.checkpoints ?? new MemoryCheckpointStore(),
    spoolDir: options.spoolDir ?? join(tmpdir(), 'ferry-spool'),
    ...(options.log ? { log: options.log } : {}),
    ...(options.verifier ? { verifier: options.verifier } : {}),
    ...(options.leaseTtlMs ? { leaseTtlMs: options.leaseTtlMs } : {}),
  };
  return {
    registry,
    createTask: (spec) => new Task(spec, registry, services),
  };
}
