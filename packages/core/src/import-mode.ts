import { FerryError } from '@ferry/errors';
import type { ImportMode, ServerIdentity } from '@ferry/plugin-sdk';
import type { RespConnection } from '@ferry/resp';
import { slotTag } from './slot.js';
import { connectOwn } from './target/own-connection.js';
import type { TargetWriter } from './target/writer.js';
import { compareVersions } from './versions.js';

/**
 * Valkey 8.1's import mode on the target (`CONFIG SET import-mode yes`): while it is on, the server
 * neither expires keys by itself nor evicts any, and a connection marked `CLIENT IMPORT-SOURCE ON`
 * sees a key whose TTL passed as still there — the target behaves as a replica does, a key going
 * only when the source's DEL arrives. Without it a lagging migration loses keys: a key whose TTL
 * runs out on the target before the command that extended it on the source (EXPIRE, PERSIST, SET)
 * arrives is deleted there, and the command then finds nothing.
 */

/** True when the server has import mode: Valkey 8.1 and later (an unstable build says 255.255.255). */
export function hasImportMode(id: ServerIdentity | undefined): boolean {
  return id?.product === 'valkey' && compareVersions(id.version, '8.1.0') >= 0;
}

/**
 * The key (no TTL) that says on a master that task `taskId` turned import mode on there: a later
 * run of the task after a crash takes it over (and turns it off at its end) instead of leaving it
 * on for good; removed when the task turns it off.
 */
export function importModeKey(taskId: string, slot: number, prefix: string): string {
  return `${prefix}import-mode:{${slotTag(slot)}}:${taskId}`;
}

/** CONFIG GET's value (`[name, value]`; nothing for a parameter the server does not have). */
function configValue(reply: unknown): string | undefined {
  return Array.isArray(reply) && reply[1] !== undefined ? String(reply[1]) : undefined;
}

/** Reads `import-mode` on each of the target's masters: 'yes', 'no', or why it could not be read. */
export async function readImportMode(
  w: TargetWriter,
): Promise<Array<{ node: string; slot: number; value?: string; error?: string }>> {
  const out: Array<{ node: string; slot: number; value?: string; error?: string }> = [];
  for (const slot of w.masterSlots()) {
    const node = w.nodeName(w.cluster ? slot : undefined);
    try {
      const v = configValue(await w.send(0, w.cluster ? slot : undefined, ['CONFIG', 'GET', 'import-mode']));
      out.push(
        v === undefined
          ? { node, slot, error: 'CONFIG GET import-mode answered nothing' }
          : { node, slot, value: v },
      );
    } catch (err) {
      out.push({ node, slot, error: (err as Error).message });
    }
  }
  return out;
}

/** What the task did to the target's import mode, and undoes when it ends. */
export class TargetImportMode {
  private constructor(
    private readonly writer: TargetWriter,
    /** The masters (by slot) where this run turned import mode on: it turns it off there again. */
    private readonly turnedOn: Array<{ node: string; slot: number; key: string }>,
  ) {}

  /** The masters where this run turned it on. */
  get nodes(): string[] {
    return this.turnedOn.map((n) => n.node);
  }

  /**
   * Turns import mode on where the target has it (`auto`, the default) or fails where it cannot
   * (`on`): every master, then every connection the writer has or opens is marked as the import
   * source. Returns undefined when the task runs without it; `warn` says why, where that matters.
   */
  static async enable(
    w: TargetWriter,
    mode: ImportMode,
    task: { taskId: string; prefix: string },
    warn: (message: string) => void,
  ): Promise<TargetImportMode | undefined> {
    if (mode === 'off' || w.proxy) {
      if (mode === 'on')
        throw new FerryError(
          'CONFIG_INVALID',
          `targetImportMode "on": a ${w.proxy} proxy target has no import mode`,
        );
      return undefined;
    }
    if (!hasImportMode(w.identity)) {
      if (mode === 'on')
        throw new FerryError(
          'CONFIG_INVALID',
          `targetImportMode "on": the target is ${w.identity?.label ?? 'a server of unknown version'}, which has no import mode (Valkey 8.1 and later); use "auto" or "off" to run without it`,
        );
      return undefined;
    }
    const state = await readImportMode(w);
    const turnedOn: Array<{ node: string; slot: number; key: string }> = [];
    const refused: string[] = [];
    for (const n of state) {
      const slot = w.cluster ? n.slot : undefined;
      const key = importModeKey(task.taskId, n.slot, task.prefix);
      // on already: this task's if an earlier run of it turned it on and did not live to turn it off
      if (n.value === 'yes') {
        if (Number(await w.send(0, slot, ['EXISTS', key])) === 1)
          turnedOn.push({ node: n.node, slot: n.slot, key });
        continue;
      }
      if (n.value === 'no') {
        // the key first: a crash between the two leaves it on with the key that says whose it is
        await w.send(0, slot, ['SET', key, task.taskId]);
        try {
          await w.send(0, slot, ['CONFIG', 'SET', 'import-mode', 'yes']);
          turnedOn.push({ node: n.node, slot: n.slot, key });
          continue;
        } catch (err) {
          n.error = (err as Error).message;
          await w.send(0, slot, ['DEL', key]);
        }
      }
      refused.push(`${n.node}: ${n.error ?? `import-mode is "${n.value}"`}`);
    }
    const done = new TargetImportMode(w, turnedOn);
    if (refused.length > 0) {
      await done.restore();
      const why = `import mode could not be turned on on the target (${refused.join('; ')})`;
      if (mode === 'on') throw new FerryError('CONFIG_INVALID', `targetImportMode "on": ${why}`);
      warn(
        `${why}: the task runs without it, so a key whose TTL runs out on the target while the migration lags may be deleted there before the source's command that kept it arrives (the check at the end finds such a key)`,
      );
      return undefined;
    }
    await w.markImportSource(true);
    return done;
  }

  /**
   * Turns import mode off again where this run turned it on, and reads it back, over connections of
   * its own (the writer's may be closed already by a stop or a failure). Idempotent. Returns the
   * nodes read back as off, or throws naming the ones it could not turn off.
   */
  async restore(): Promise<string[]> {
    if (this.turnedOn.length === 0) return [];
    const w = this.writer;
    await w.markImportSource(false).catch(() => undefined); // the writer may be closed: no matter
    const read: string[] = [];
    const failed: string[] = [];
    for (const n of this.turnedOn) {
      let conn: RespConnection | undefined;
      try {
        conn = await connectOwn(w, n.slot);
        await conn.send(['CONFIG', 'SET', 'import-mode', 'no']);
        const v = configValue(await conn.send(['CONFIG', 'GET', 'import-mode']));
        await conn.send(['DEL', n.key]);
        if (v === 'no') read.push(n.node);
        else failed.push(`${n.node}: CONFIG GET import-mode says "${v}"`);
      } catch (err) {
        failed.push(`${n.node}: ${(err as Error).message}`);
      } finally {
        conn?.destroy();
      }
    }
    this.turnedOn.length = 0;
    if (failed.length > 0)
      throw new FerryError(
        'TARGET_WRITE_FAILED',
        `import mode could not be turned off on the target (${failed.join('; ')}): keys there do not expire until it is; run CONFIG SET import-mode no on it (the next run of this task turns it off at its end)`,
      );
    return read;
  }
}
