import { isFerryError } from '@ferry/errors';
import { decodeAll, encodeCommands } from '@ferry/resp';
import { describe, expect, it } from 'vitest';
import { CommandScanner } from './scanner.js';

function stream(): Buffer {
  const cmds: Array<Array<string | Buffer>> = [
    ['SELECT', '0'],
    ['SET', 'k', 'v'],
    ['REPLCONF', 'GETACK', '*'],
    ['replconf', 'getack', '*'],
    ['RPUSH', Buffer.from('a\r\nb\0'), '', 'x'.repeat(70_000)],
    ['PING'],
    ['MSET', 'a', '1', 'b', '2'],
  ];
  return Buffer.concat([Buffer.from('\n'), encodeCommands(cmds)]);
}

describe('CommandScanner', () => {
  it('reads what a RESP decoder reads, with exact offsets, at every chunk boundary', () => {
    const input = stream();
    const expected = decodeAll(input.subarray(1)) as Buffer[][];
    for (const step of [1, 2, 3, 7, 64, 1000, input.length]) {
      for (const wantArgs of [true, false]) {
        const s = new CommandScanner(wantArgs);
        const seen: Array<{ argv?: Buffer[]; raw?: Buffer; start: number; end: number; getAck: boolean }> =
          [];
        for (let i = 0; i < input.length; i += step) {
          s.feed(input.subarray(i, i + step), (argv, raw, start, end, getAck) =>
            seen.push({
              ...(argv ? { argv: argv.map((b) => Buffer.from(b)) } : {}),
              ...(raw ? { raw: Buffer.from(raw) } : {}),
              start,
              end,
              getAck,
            }),
          );
        }
        expect(seen.length).toBe(expected.length);
        expect(seen.map((x) => x.getAck)).toEqual([false, false, true, true, false, false, false]);
        expect(seen.at(-1)?.end).toBe(input.length);
        expect(s.pending).toBe(0);
        for (const [i, x] of seen.entries()) {
          expect(input.subarray(x.start, x.end).equals(encodeCommands([expected[i] as Buffer[]]))).toBe(true);
          if (wantArgs) {
            expect(x.argv).toEqual(expected[i]);
            expect(x.raw?.equals(input.subarray(x.start, x.end))).toBe(true);
          }
        }
      }
    }
  });

  it('refuses what a source never sends, naming the byte', () => {
    for (const bad of ['+OK\r\n', '*1\r\n:5\r\n', '*x\r\n', '*1\r\n$3\r\nabcd\r\n']) {
      try {
        new CommandScanner(true).feed(Buffer.from(bad), () => undefined);
        expect.fail(`accepted ${JSON.stringify(bad)}`);
      } catch (err) {
        expect(isFerryError(err, 'PROTOCOL_ERROR'), String(err)).toBe(true);
        expect(String(err)).toMatch(/replication stream byte \d+/);
      }
    }
  });
});
