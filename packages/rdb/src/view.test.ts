import { describe, expect, it } from 'vitest';
import * as blobs from './blobs.js';
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

describe('itemToBuffer', () => {
  it('writes integers as String(n) would, across arena refills, without later ones overwriting earlier', () => {
    const { itemToBuffer } = blobs;
    const ints = [0, 1, -1, 9, 10, -10, 99, 100, 4095, -4096, 2 ** 31, -(2 ** 31), 2 ** 32 + 7];
    ints.push(Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, 1e15, -999_999_999_999_999);
    for (let i = 0; i < 3000; i++) ints.push(Math.round((Math.random() - 0.5) * 2 ** (i % 54)));
    const out = ints.map((n) => itemToBuffer(n)); // more than one 8 KB arena's worth
    for (const [i, n] of ints.entries()) expect(out[i]?.toString('latin1')).toBe(String(n));
    expect(itemToBuffer(2n ** 63n - 1n).toString()).toBe('9223372036854775807');
    const b = Buffer.from('as is');
    expect(itemToBuffer(b)).toBe(b);
  });
});
