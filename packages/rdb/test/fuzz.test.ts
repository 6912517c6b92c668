import { readFileSync } from 'node:fs';
import { FerryError } from '@ferry/errors';
import { Random } from '@ferry/testkit';
import { describe, expect, it } from 'vitest';
import { collect } from './collect.js';
import { fixtures } from './fixtures.js';

const SEED = Number(process.env.FERRY_FUZZ_SEED ?? 20261125);
const CASES = Number(process.env.FERRY_FUZZ_CASES ?? 3000);

type Mutation = (rnd: Random, b: Buffer) => Buffer;

const mutations: Record<string, Mutation> = {
  flip: (rnd, b) => {
    const out = Buffer.from(b);
    for (let i = rnd.int(1, 8); i > 0; i--) out[rnd.int(0, out.length - 1)] = rnd.int(0, 255);
    return out;
  },
  truncate: (rnd, b) => b.subarray(0, rnd.int(0, b.length - 1)),
  hugeLength: (rnd, b) => {
    const out = Buffer.from(b);
    const at = rnd.int(9, Math.max(9, out.length - 9));
    const lengths = [
      [0x80, 0xff, 0xff, 0xff, 0xff],
      [0x81, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
      [0xc3, 0x01, 0x80, 0x7f, 0xff, 0xff, 0xff], // LZF: 1 byte claiming 2 GB
      [0x3f],
    ];
    Buffer.from(rnd.pick(lengths)).copy(out, at);
    return out;
  },
  splice: (rnd, b) => {
    const a = rnd.int(0, b.length - 1);
    const len = rnd.int(1, Math.min(64, b.length - a));
    const to = rnd.int(0, b.length - 1);
    return Buffer.concat([b.subarray(0, to), b.subarray(a, a + len), b.subarray(to)]);
  },
  zero: (rnd, b) => {
    const out = Buffer.from(b);
    const a = rnd.int(0, out.length - 1);
    out.fill(0, a, Math.min(out.length, a + rnd.int(1, 32)));
    return out;
  },
};

describe('fuzz: mutated real fixtures', () => {
  it(`ends every one of ${CASES} mutations with a result or a clear RDB error (seed ${SEED})`, async () => {
    const rnd = new Random(SEED);
    const inputs = fixtures()
      .filter((f) => f.magic.startsWith('REDIS'))
      .map((f) => ({ name: f.name, bytes: readFileSync(f.path) }))
      .filter((f) => f.bytes.length < 200_000);
    const outcomes = { parsed: 0, RDB_CORRUPT: 0, RDB_UNSUPPORTED: 0 };
    const names = Object.keys(mutations);
    for (let i = 0; i < CASES; i++) {
      const input = rnd.pick(inputs);
      const how = rnd.pick(names);
      const mutated = (mutations[how] as Mutation)(rnd, input.bytes);
      const label = `case ${i} (${how} of ${input.name})`;
      try {
        // chunked input, so mutations also land across chunk boundaries
        const pieces: Buffer[] = [];
        for (let p = 0; p < mutated.length; p += 4096) pieces.push(mutated.subarray(p, p + 4096));
        await collect(pieces, { raw: rnd.next() < 0.5, batched: rnd.next() < 0.5 });
        outcomes.parsed++;
      } catch (err) {
        if (!(err instanceof FerryError) || (err.code !== 'RDB_CORRUPT' && err.code !== 'RDB_UNSUPPORTED')) {
          throw new Error(`${label}: not a clear RDB error: ${String(err)}`, { cause: err });
        }
        expect(err.message, label).toMatch(/at byte \d+/);
        outcomes[err.code]++;
      }
      expect(process.memoryUsage().rss, `${label}: memory`).toBeLessThan(1.5 * 1024 ** 3);
    }
    // the fuzzer really exercises the error paths
    expect(outcomes.RDB_CORRUPT).toBeGreaterThan(CASES / 4);
    console.log(`fuzz outcomes (seed ${SEED}):`, outcomes);
  });
});
