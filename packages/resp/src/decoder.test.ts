import { describe, expect, it } from 'vitest';
import { decodeAll, RespDecoder } from './decoder.js';
import { encodeCommand, encodeCommands } from './encoder.js';
import { RedirectError, ReplyError } from './errors.js';
import { RespMap, RespPush, RespSet, type RespValue, RespVerbatim } from './types.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

/** Every RESP2 and RESP3 type, nested, in one stream. */
const STREAM = b(
  [
    '+OK',
    '-ERR unknown command',
    '-MOVED 3999 127.0.0.1:6381',
    ':1000',
    ':-42',
    ':9007199254740993',
    '$5',
    'hello',
    '$0',
    '',
    '$-1',
    '*-1',
    '*0',
    '*3',
    ':1',
    '$3',
    'a\rb', // a CR inside a bulk string
    '*2',
    '+nested',
    '$-1',
    '_',
    '#t',
    '#f',
    ',3.5',
    ',inf',
    ',-inf',
    '(3492890328409238509324850943850943825024385',
    '!11',
    'SYNTAX oops',
    '=8',
    'txt:some',
    '%2',
    '+k1',
    ':1',
    '+k2',
    '~2',
    ':1',
    ':2',
    '~1',
    '+x',
    '|1',
    '+key-popularity',
    '*1',
    ',0.19',
    '+after-attribute',
    '>2',
    '+message',
    '$4',
    'body',
    '',
  ].join('\r\n'),
);

function expected(): RespValue[] {
  return decodeAll(STREAM);
}

describe('RespDecoder', () => {
  it('decodes every RESP2 and RESP3 type', () => {
    const v = expected();
    expect(v[0]).toBe('OK');
    expect(v[1]).toBeInstanceOf(ReplyError);
    expect((v[1] as ReplyError).kind).toBe('ERR');
    expect(v[2]).toBeInstanceOf(RedirectError);
    expect(v[2]).toMatchObject({ kind: 'MOVED', slot: 3999, host: '127.0.0.1', port: 6381 });
    expect(v.slice(3, 6)).toEqual([1000, -42, 9007199254740993n]);
    expect(v[6]).toEqual(b('hello'));
    expect(v[7]).toEqual(b(''));
    expect(v.slice(8, 11)).toEqual([null, null, []]);
    expect(v[11]).toEqual([1, b('a\rb'), ['nested', null]]);
    expect(v.slice(12, 18)).toEqual([null, true, false, 3.5, Infinity, -Infinity]);
    expect(v[18]).toBe(3492890328409238509324850943850943825024385n);
    expect(v[19]).toMatchObject({ kind: 'ERR', prefix: 'SYNTAX', message: 'SYNTAX oops' });
    expect(v[20]).toEqual(new RespVerbatim('txt', b('some')));
    expect(v[21]).toEqual(
      new RespMap([
        ['k1', 1],
        ['k2', new RespSet([1, 2])],
      ]),
    );
    expect(v[22]).toEqual(new RespSet(['x']));
    expect(v[23]).toBe('after-attribute'); // the attribute before it is dropped
    expect(v[24]).toEqual(new RespPush(['message', b('body')]));
    expect(v).toHaveLength(25);
  });

  it('decodes the same whatever the chunk boundaries (every split point, and byte by byte)', () => {
    const whole = expected();
    for (let cut = 1; cut < STREAM.length; cut++) {
      const out: RespValue[] = [];
      const d = new RespDecoder();
      d.feed(STREAM.subarray(0, cut), (v) => out.push(v));
      d.feed(STREAM.subarray(cut), (v) => out.push(v));
      expect(out, `split at ${cut}`).toEqual(whole);
      expect(d.idle).toBe(true);
    }
    const out: RespValue[] = [];
    const d = new RespDecoder();
    for (let i = 0; i < STREAM.length; i++) d.feed(STREAM.subarray(i, i + 1), (v) => out.push(v));
    expect(out).toEqual(whole);
  });

  it('reports the stream offset just past each value', () => {
    const input = b('+OK\r\n$3\r\nabc\r\n:7\r\n');
    const ends: number[] = [];
    new RespDecoder().feed(input, (_v, end) => ends.push(end));
    expect(ends).toEqual([5, 14, 18]);
    const split: number[] = [];
    const d = new RespDecoder();
    for (let i = 0; i < input.length; i++) d.feed(input.subarray(i, i + 1), (_v, end) => split.push(end));
    expect(split).toEqual([5, 14, 18]);
  });

  it('returns bulk strings that arrived in one chunk as views, and assembles split ones once', () => {
    const input = b('$5\r\nhello\r\n');
    const out: RespValue[] = [];
    new RespDecoder().feed(input, (v) => out.push(v));
    expect((out[0] as Buffer).buffer).toBe(input.buffer);
    const big = Buffer.alloc(1 << 20, 7);
    const payload = Buffer.concat([b(`$${big.length}\r\n`), big, b('\r\n')]);
    const got: RespValue[] = [];
    const d = new RespDecoder();
    for (let i = 0; i < payload.length; i += 1000) d.feed(payload.subarray(i, i + 1000), (v) => got.push(v));
    expect(got).toHaveLength(1);
    expect((got[0] as Buffer).equals(big)).toBe(true);
  });

  it.each([
    ['an unknown type byte', '?what\r\n', /unknown type byte 0x3f at|at byte 0/],
    ['a non-numeric length', '$abc\r\n', /invalid digit/],
    ['a negative length below -1', '*-5\r\n', /out of range/],
    ['a bulk longer than the limit', '$999999999999\r\n', /out of range/],
    ['a bulk without CRLF after it', '$3\r\nabcXY', /not followed by CRLF/],
    ['a bad boolean', '#x\r\n', /boolean/],
    ['a bad double', ',1.2.3\r\n', /invalid double/],
    ['a line that never ends', `+${'x'.repeat(70_000)}`, /no CRLF within/],
  ])('fails clearly on %s', (_what, input, message) => {
    const d = new RespDecoder();
    expect(() => d.feed(b(input), () => {})).toThrow(message);
    try {
      new RespDecoder().feed(b(input), () => {});
    } catch (err) {
      expect(err).toMatchObject({ code: 'PROTOCOL_ERROR' });
    }
  });

  it('does not allocate for a huge announced aggregate before its elements arrive', () => {
    const d = new RespDecoder();
    d.feed(b('*1000000000\r\n:1\r\n'), () => {});
    expect(d.idle).toBe(false);
  });

  it('hands over the bytes after the last value', () => {
    const d = new RespDecoder();
    d.feed(b('+OK\r\n$EOF:'), () => {});
    expect(d.takeRemainder()).toEqual(b('$EOF:'));
  });
});

describe('encodeCommand', () => {
  it('encodes Buffer, string and number arguments as bulk strings', () => {
    expect(encodeCommand(['SET', b('k\r\n\0'), 42]).toString('latin1')).toBe(
      '*3\r\n$3\r\nSET\r\n$4\r\nk\r\n\0\r\n$2\r\n42\r\n',
    );
    expect(encodeCommand(['SET', 'ключ', '']).toString('utf8')).toBe(
      '*3\r\n$3\r\nSET\r\n$8\r\nключ\r\n$0\r\n\r\n',
    );
  });

  it('sizes every kind of argument as its UTF-8 bytes', () => {
    const long = 'k'.repeat(100);
    const wide = 'é'.repeat(40); // 80 bytes
    const many = Array.from({ length: 12 }, (_, i) => `a${i}`);
    const argv: Array<string | number | bigint | Buffer> = [
      'SET',
      long,
      wide,
      `${wide}${long}`,
      -1,
      1234567890123,
      10n ** 20n,
      b(''),
      ...many,
    ];
    const [decoded] = decodeAll(encodeCommand(argv));
    expect(decoded).toEqual(argv.map((a) => (Buffer.isBuffer(a) ? a : Buffer.from(String(a), 'utf8'))));
    expect(encodeCommand(many).subarray(0, 5).toString()).toBe('*12\r\n');
  });

  it('round-trips through the decoder', () => {
    const argv = [b('LPUSH'), b('list'), Buffer.from([0, 255, 13, 10]), b('x'.repeat(100_000))];
    const [decoded] = decodeAll(encodeCommands([argv]));
    expect(decoded).toEqual(argv);
  });
});
