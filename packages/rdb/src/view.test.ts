import { describe, expect, it } from 'vitest';
import { view } from './view.js';

describe('view', () => {
  const base = Buffer.from('..hello, world..', 'latin1').subarray(1); // a view itself, at an offset

  it('is a Buffer sharing the bytes it was cut from', () => {
    const v = view(base, 1, 6);
    expect(Buffer.isBuffer(v)).toBe(true);
    expect(v).toBeInstanceOf(Buffer);
    expect(v.toString('latin1')).toBe('hello');
    expect(v.equals(Buffer.from('hello'))).toBe(true);
    expect(Buffer.concat([v, view(base, 6, 13)]).toString()).toBe('hello, world');
    expect(v.subarray(1, 3).toString()).toBe('el');
    expect(v.readUInt8(0)).toBe(0x68);
    expect(v.buffer).toBe(base.buffer);
  });

  it('throws on bounds outside the buffer instead of clamping them', () => {
    expect(() => view(base, 10, 40)).toThrow(RangeError);
    expect(view(base, 3, 3).length).toBe(0);
  });
});
