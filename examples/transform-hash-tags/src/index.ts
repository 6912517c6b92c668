import { defineTransform } from '@ferry/plugin-sdk';

export const META = { name: '@ferry/example-transform-hash-tags', version: '0.1.0', engine: '^0.1.0' };

const COLON = 0x3a;
const OPEN = 0x7b;
const CLOSE = 0x7d;

/**
 * `user:42:cart` → `{user:42}:cart`: the first two parts of a key become its hash tag, so that every
 * key of one user lands in one slot of a cluster target, and the application's transactions and
 * multi-key commands on them keep working there. Keys with fewer than three parts, or with a brace
 * already, keep their name.
 *
 * It has no inverse: a source key may itself be named `{user:42}:cart`, so a target key cannot be
 * traced back with certainty. Verification then compares source → target only, and says so.
 */
export function hashTags() {
  return defineTransform({
    meta: META,
    id: 'hash-tags',
    title: 'a:b:rest → {a:b}:rest',
    key(key) {
      if (key.includes(OPEN) || key.includes(CLOSE)) return key;
      const first = key.indexOf(COLON);
      const second = first < 0 ? -1 : key.indexOf(COLON, first + 1);
      if (second < 0) return key;
      return Buffer.concat([
        Buffer.of(OPEN),
        key.subarray(0, second),
        Buffer.of(CLOSE),
        key.subarray(second),
      ]);
    },
  });
}

/** What `ferry --plugin @ferry/example-transform-hash-tags` and FERRY_PLUGINS load. */
export function plugins() {
  return [hashTags()];
}
