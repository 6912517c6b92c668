import { describe, expect, it } from 'vitest';
import { CRC64_BACKEND, Crc64, crc64 } from './crc64.js';

describe('crc64', () => {
  it('matches the check value from Redis crc64.c ("123456789" → 0xe9c6d914c4b8d9ca)', () => {
    expect(crc64(Buffer.from('123456789'))).toBe(0xe9c6d914c4b8d9can);
  });

  it('is the same computed in pieces of any size', () => {
    const data = Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 31 + 7) & 0xff));
    const whole = crc64(data);
    for (const step of [1, 3, 7, 8, 9, 64, 999]) {
      const c = new Crc64();
      for (let i = 0; i < data.length; i += step) c.update(data, i, Math.min(data.length, i + step));
      expect(c.value()).toBe(whole);
    }
  });

  it('runs in WebAssembly here, and agrees with the JavaScript loop at every length and offset', () => {
    expect(CRC64_BACKEND).toBe('wasm');
    let seed = 20261201;
    const rnd = (): number => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed >>> 8;
    };
    const data = Buffer.from(Array.from({ length: 200_000 }, () => rnd() & 0xff));
    const lengths = [0, 1, 7, 8, 9, 31, 32, 33, 63, 64, 65, 1000, 65_535, 65_536, 65_537, 150_001];
    for (const len of lengths) {
      for (const start of [0, 1, 5, 4096 + 3]) {
        const a = new Crc64().update(data, start, start + len);
        const j = new Crc64().updateJs(data, start, start + len);
        expect([a.hi, a.lo], `len ${len} at ${start}`).toEqual([j.hi, j.lo]);
      }
    }
    // a running CRC carried into and out of the WebAssembly state
    const c = new Crc64().updateJs(data, 0, 3).update(data, 3, 100_003);
    const j = new Crc64().updateJs(data, 0, 100_003);
    expect([c.hi, c.lo]).toEqual([j.hi, j.lo]);
  });

  it('gives a DUMP body checksum without building the body', () => {
    for (const len of [0, 5, 28, 29, 30, 100, 65_532, 65_533, 65_534, 100_000]) {
      const value = Buffer.alloc(len, len & 0xff);
      const body = Buffer.concat([Buffer.from([14]), value, Buffer.from([11, 0])]);
      const expected = new Crc64().updateJs(body, 0, body.length);
      const got = new Crc64().updateJs(Buffer.from('left over state'), 0, 15).dumpBody(14, value, 11);
      expect([got.hi, got.lo], `len ${len}`).toEqual([expected.hi, expected.lo]);
    }
  });
});
