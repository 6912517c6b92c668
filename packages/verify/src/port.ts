import type { VerificationReport, Verifier } from '@ferry/core';
import { verify } from './verify.js';

/** The engine's verification port (`EngineServices.verifier`), keys as latin1 text. */
export const verifier: Verifier = async (req): Promise<VerificationReport> => {
  const r = await verify(req);
  return {
    mode: r.mode,
    rounds: r.rounds,
    keysChecked: r.keysChecked,
    perRound: r.perRound,
    counts: r.counts,
    differences: r.differences,
    details: r.details.map((d) => ({
      kind: d.kind,
      db: d.db,
      key: d.key.toString('latin1'),
      targetDb: d.targetDb,
      targetKey: d.targetKey.toString('latin1'),
      ...(d.detail ? { detail: d.detail } : {}),
    })),
    valuesNotRead: r.valuesNotRead,
    ...(r.oneWay ? { oneWay: r.oneWay } : {}),
    durationMs: r.durationMs,
  };
};
