/** CRC16/XMODEM, the checksum Redis Cluster uses for key slots (cluster.c keyHashSlot). */
const TABLE = (() => {
  const t = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let crc = i << 8;
    for (let b = 0; b < 8; b++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    t[i] = crc;
  }
  return t;
})();

function crc16(buf: Uint8Array, start: number, end: number): number {
  let crc = 0;
  for (let i = start; i < end; i++)
    crc = ((crc << 8) & 0xffff) ^ (TABLE[((crc >> 8) ^ (buf[i] as number)) & 0xff] as number);
  return crc;
}

export const SLOTS = 16384;

/** The cluster slot of a key, honouring the first non-empty `{hash tag}`. */
export function keySlot(key: Buffer): number {
  const open = key.indexOf(0x7b); // '{'
  if (open >= 0) {
    const close = key.indexOf(0x7d, open + 1); // '}'
    if (close > open + 1) return crc16(key, open + 1, close) & 16383;
  }
  return crc16(key, 0, key.length) & 16383;
}

/** The tags found so far, by slot, and the next base-36 number to try (see slotTag). */
const tags: Array<string | undefined> = new Array<string | undefined>(SLOTS);
let nextTag = 0;
const digits = new Uint8Array(16);

/**
 * A short hash tag for each slot: `{<tag>}` puts any key Ferry makes for itself (temporary keys,
 * checkpoint keys, the lease) in the slot it needs, whatever bytes the user's key holds. The tag
 * of a slot is the smallest number, in base 36, whose CRC16 falls in it: the same names in every
 * version of Ferry. Found on demand, counting on from where the last search stopped, without a
 * string per try: building the whole table up front took ~30 ms of every task's start.
 */
export function slotTag(slot: number): string {
  if (!Number.isInteger(slot) || slot < 0 || slot >= SLOTS) throw new RangeError(`no slot ${slot}`);
  while (tags[slot] === undefined) {
    const i = nextTag++;
    // i's base-36 digits (0-9, a-z), written from the end of `digits`, then hashed as keySlot does
    let n = i;
    let at = digits.length;
    do {
      const d = n % 36;
      digits[--at] = d < 10 ? 48 + d : 87 + d;
      n = (n - d) / 36;
    } while (n > 0);
    const s = crc16(digits, at, digits.length) & 16383;
    if (tags[s] === undefined) tags[s] = i.toString(36);
  }
  return tags[slot] as string;
}

/** Codis's slot count (pkg/models/slots.go MaxSlotNum). */
export const CODIS_SLOTS = 1024;

/** CRC-32/IEEE (Go's crc32.ChecksumIEEE), the checksum Codis routes keys by. */
const CRC32 = (() => {
  const t = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  return t;
})();

function crc32(buf: Uint8Array, start: number, end: number): number {
  let c = -1;
  for (let i = start; i < end; i++) c = (CRC32[(c ^ (buf[i] as number)) & 0xff] as number) ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

/**
 * The Codis slot of a key: CRC-32 of its hash tag, modulo 1024. Codis's tag rule differs from
 * Redis Cluster's: the bytes between the first `{` and the next `}`, even when there are none
 * (`{}x` hashes the empty string), else the whole key (codis pkg/proxy/mapper.go Hash).
 */
export function codisSlot(key: Buffer): number {
  const open = key.indexOf(0x7b); // '{'
  if (open >= 0) {
    const close = key.indexOf(0x7d, open + 1); // '}'
    if (close >= 0) return crc32(key, open + 1, close) % CODIS_SLOTS;
  }
  return crc32(key, 0, key.length) % CODIS_SLOTS;
}
