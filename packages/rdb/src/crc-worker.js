// The checksum thread: folds the bytes the parser reads into a CRC64, up to the offsets the
// parser has consumed, so verifying a big RDB costs the parsing thread nothing.
// Two ways to get the bytes:
// - workerData.fd set: the input is that file's content from its first byte (an RDB file, a snapshot
//   spool file): the thread reads it itself, so the parsing thread posts only offsets (posting every
//   chunk costs it about 2 ns a byte in structured cloning, more than the checksum itself);
// - otherwise every input chunk is posted: { chunk: Uint8Array }, in order.
// Messages in: { upTo: number, reply?: true }. Message out (on reply): { hi, lo, at, error? }.
import { readSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { Crc64 } from './crc64-core.js';

const crc = new Crc64();
/** @type {number | undefined} */
const fd = workerData?.fd;
const readBuf = fd === undefined ? undefined : Buffer.allocUnsafe(1 << 20);
/** @type {Array<{ buf: Uint8Array, start: number }>} */
const pending = [];
let received = 0;
let at = 0;
/** @type {string | undefined} */
let error;

/** @param {number} upTo */
function fold(upTo) {
  if (readBuf) {
    while (at < upTo && error === undefined) {
      let n = 0;
      try {
        n = readSync(/** @type {number} */ (fd), readBuf, 0, Math.min(readBuf.length, upTo - at), at);
      } catch (err) {
        error = `reading the input for its checksum at byte ${at}: ${err instanceof Error ? err.message : err}`;
        return;
      }
      if (n === 0) {
        error = `the input file ends at byte ${at}, before the ${upTo} bytes parsed`;
        return;
      }
      crc.update(readBuf, 0, n);
      at += n;
    }
    return;
  }
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
  if (m.reply) parentPort?.postMessage({ hi: crc.hi, lo: crc.lo, at, error });
});
