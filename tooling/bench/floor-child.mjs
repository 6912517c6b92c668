// The CPU a Node.js process needs only to move the snapshot's bytes, with no parsing, framing or
// filtering: `pnpm bench migrate` runs it in a process of its own (its CPU is then its own) to show
// how much of Ferry's CPU any migrator written for Node would spend. Prints one JSON line:
//   receiveMs  the RDB read from the source's socket (SYNC, as a replica would)
//   crcMs      one CRC64 pass over those bytes (Ferry makes two: the RDB's own checksum, and the one
//              every RESTORE payload carries)
//   sendMs     the file of RESTORE commands written to the target's socket and every reply read
// Usage: node floor-child.mjs <source host:port> <target host:port> <restore.resp>
import { closeSync, openSync, readSync } from 'node:fs';
import { createConnection } from 'node:net';
import { Crc64 } from '../../packages/rdb/dist/index.js';

const [source, target] = process.argv.slice(2, 4).map((s) => {
  const [host, port] = s.split(':');
  return { host, port: Number(port) };
});
const respFile = process.argv[4];
const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
const connect = async ({ host, port }) => {
  const sock = createConnection(port, host);
  await new Promise((resolve, reject) => {
    sock.once('connect', resolve);
    sock.once('error', reject);
  });
  return sock;
};

// 1. receive the RDB as a replica would (`rdb-only`: the source does not keep us as a replica)
const crc = new Crc64();
let receiveMs = 0;
let crcMs = 0;
let rdbBytes = 0;
{
  const sock = await connect(source);
  // SYNC only once the REPLCONFs are answered (a server refuses it "with pending output")
  sock.write('REPLCONF capa eof\r\nREPLCONF rdb-only 1\r\n');
  let oks = Buffer.alloc(0);
  await new Promise((resolve, reject) => {
    const onData = (d) => {
      oks = Buffer.concat([oks, d]);
      if (oks.toString('latin1') === '+OK\r\n+OK\r\n') {
        sock.off('data', onData);
        resolve();
      } else if (oks.length >= 10) reject(new Error(`the source answered REPLCONF with ${oks}`));
    };
    sock.on('data', onData);
  });
  sock.write('SYNC\r\n');
  let head = Buffer.alloc(0);
  let c0 = 0;
  let length = -1; // bytes of a length-prefixed payload
  let mark; // the end mark of a diskless ($EOF:) payload
  let tail = Buffer.alloc(0);
  await new Promise((resolve, reject) => {
    sock.on('error', reject);
    sock.on('data', (d) => {
      if (length < 0 && !mark) {
        head = Buffer.concat([head, d]);
        const m = /\$(EOF:(.{40})|\d+)\r\n/s.exec(head.toString('latin1'));
        if (!m) return;
        c0 = cpu();
        if (m[2]) mark = Buffer.from(m[2], 'latin1');
        else length = Number(m[1]);
        d = head.subarray(m.index + m[0].length);
      }
      rdbBytes += d.length;
      const k0 = cpu();
      crc.update(d);
      crcMs += cpu() - k0;
      if (length >= 0 && rdbBytes >= length) resolve();
      if (mark) {
        tail = Buffer.concat([tail, d.subarray(Math.max(0, d.length - 40))]).subarray(-40);
        if (tail.equals(mark)) resolve();
      }
    });
  });
  receiveMs = cpu() - c0 - crcMs;
  sock.destroy();
}

// 2. send the RESTORE commands (256 KB writes, as a pipelining client would) and read the replies
let sendMs = 0;
let sent = 0;
let replies = 0;
{
  const sock = await connect(target);
  const fd = openSync(respFile, 'r');
  const c0 = cpu();
  // a PING after the last RESTORE: its +PONG is the last reply (no RESTORE reply contains it)
  let seen = Buffer.alloc(0);
  const all = new Promise((resolve) => {
    sock.on('data', (d) => {
      for (let i = d.indexOf(10); i >= 0; i = d.indexOf(10, i + 1)) replies++;
      seen = Buffer.concat([seen.subarray(-8), d.subarray(-8)]);
      if (seen.includes('+PONG\r\n')) resolve();
    });
  });
  for (;;) {
    const b = Buffer.allocUnsafe(256 << 10);
    const n = readSync(fd, b, 0, b.length, null);
    if (n === 0) break;
    sent += n;
    if (!sock.write(b.subarray(0, n))) await new Promise((r) => sock.once('drain', r));
  }
  sock.write('PING\r\n');
  await all;
  sendMs = cpu() - c0;
  closeSync(fd);
  sock.destroy();
}
process.stdout.write(
  `${JSON.stringify({ receiveMs, crcMs, sendMs, rdbBytes, sent, replies: replies - 1 })}\n`,
);
