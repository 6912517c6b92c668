// The checksum thread: folds the chunks the parser reads into a CRC64, up to the offsets the
// parser has consumed, so verifying a big RDB costs the parsing thread nothing.
// Messages in: { chunk: Uint8Array } (every input chunk, in order), { upTo: number, reply?: true }.
// Message out (on reply): { hi, lo, at }.
import { parentPort } from 'node:worker_threads';
import { Crc64 } from './crc64-core.js';

const crc = new Crc64();
/** @type {Array<{ buf: Uint8Array, start: number }>} */
const pending = [];
let received = 0;
let at = 0;

/** @param {number} upTo */
function fold(upTo) {
  while (pending.length > 0 && at < upTo) {
    const p = pending[0];
    if (!p) break;
    const end = Math.min(p.start + p.buf.length, upTo);
    crc.update(p.buf, at - p.start, end - p.start);
    at = end;
    if (at === p.start + p.buf.length) pending.shift();
  }
}

parentPort?.on('message', (m) => {
  if (m.chunk) {
    pending.push({ buf: m.chunk, start: received });
    received += m.chunk.length;
    return;
  }
  fold(m.upTo);
  if (m.reply) parentPort?.postMessage({ hi: crc.hi, lo: crc.lo, at });
});
