import { describe, expect, it } from 'vitest';
import { Crc64, crc64 } from './crc64.js';

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
});
