// A stand-in for kinerjad's live feed, for browser tests until the daemon exists: a
// minimal WebSocket server (RFC 6455: handshake, masked client frames, binary frames,
// ping/close) speaking kinerja-live.v1 in msgpack, driven by the test.
//
// It attaches to a node http.Server's 'upgrade' event, so the page reaches it on the
// same host and port as the static files, as it will reach the daemon.

import { createHash } from 'node:crypto';
import { decode, encode } from '../../web/node_modules/@msgpack/msgpack/dist.esm/index.mjs';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
export const SUBPROTOCOL = 'kinerja-live.v1';

export class FakeLive {
  /**
   * units: the list answered to {"op":"units"}
   * snapshot(unit): the snapshot frame for a subscribe (a function, so tests can vary it)
   * token: when set, a client must send {"op":"auth","token":token} first, else it gets
   *        an error frame and a close with 1008, as the daemon does
   */
  constructor({ units = [], snapshot = () => null, token = null, overview = null } = {}) {
    this.units = units;
    this.overview = overview; // () => the overview rows (SPEC §14); null: no overview answered
    this.overviewSeq = 500;
    this.snapshot = snapshot;
    this.token = token;
    this.clients = new Set();
    this.received = [];       // every client frame, decoded, in order
    this.refusing = false;    // simulate a daemon that is down
    this.silent = false;      // simulate a hung daemon: connections stay, nothing answers
    this.waiters = [];
  }

  attach(server) {
    server.on('upgrade', (req, socket) => this.upgrade(req, socket));
  }

  upgrade(req, socket) {
    const offered = String(req.headers['sec-websocket-protocol'] || '').split(/\s*,\s*/);
    const key = req.headers['sec-websocket-key'];
    if (this.refusing || !key || !offered.includes(SUBPROTOCOL)) {
      socket.end('HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      return;
    }
    const accept = createHash('sha1').update(key + GUID).digest('base64');
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
      + `Sec-WebSocket-Accept: ${accept}\r\nSec-WebSocket-Protocol: ${SUBPROTOCOL}\r\n\r\n`);
    socket.setNoDelay(true);
    const client = { socket, buf: Buffer.alloc(0), authed: !this.token, unit: null, seq: 0 };
    this.clients.add(client);
    socket.on('data', (d) => this.data(client, d));
    socket.on('close', () => this.clients.delete(client));
    socket.on('error', () => this.clients.delete(client));
  }

  data(client, chunk) {
    client.buf = Buffer.concat([client.buf, chunk]);
    for (;;) {
      const b = client.buf;
      if (b.length < 2) return;
      const opcode = b[0] & 0x0f;
      const masked = (b[1] & 0x80) !== 0;
      let len = b[1] & 0x7f;
      let off = 2;
      if (len === 126) { if (b.length < 4) return; len = b.readUInt16BE(2); off = 4; }
      else if (len === 127) { if (b.length < 10) return; len = Number(b.readBigUInt64BE(2)); off = 10; }
      const maskOff = off;
      if (masked) off += 4;
      if (b.length < off + len) return;
      const payload = Buffer.from(b.subarray(off, off + len));
      if (masked) for (let i = 0; i < len; i++) payload[i] ^= b[maskOff + (i & 3)];
      client.buf = b.subarray(off + len);
      if (opcode === 0x8) { this.close(client, 1000); return; }
      if (opcode === 0x9) { this.frame(client, 0xA, payload); continue; }
      if (opcode === 0x2 || opcode === 0x1) this.message(client, decode(payload));
    }
  }

  message(client, msg) {
    this.received.push(msg);
    this.waiters = this.waiters.filter((w) => !w(msg));
    if (this.silent) return;
    if (msg.op === 'auth') {
      if (this.token && msg.token !== this.token) {
        this.send(client, { op: 'error', error: 'auth: unknown token' });
        this.close(client, 1008);
        return;
      }
      client.authed = true;
      return;
    }
    if (!client.authed) {
      this.send(client, { op: 'error', error: 'auth: token required' });
      this.close(client, 1008);
      return;
    }
    if (msg.overview === true) {
      client.overview = msg.op === 'subscribe' && !!this.overview;
      if (client.overview) this.send(client, { op: 'overview', seq: this.overviewSeq, at: Date.now(), units: this.overview() });
      return;
    }
    if (msg.op === 'units') this.send(client, { op: 'units', units: this.units });
    else if (msg.op === 'unsubscribe') client.unit = null;
    else if (msg.op === 'subscribe') {
      const snap = this.snapshot(msg.unit);
      if (!snap) { this.send(client, { op: 'error', error: `unknown unit: ${msg.unit}` }); return; }
      client.unit = msg.unit;
      client.seq = snap.seq;
      this.send(client, snap);
    }
  }

  /** Sends an update to every client subscribed to unit; seq follows on unless given. */
  update(unit, fields, { seq } = {}) {
    for (const c of this.clients) {
      if (c.unit !== unit) continue;
      c.seq = seq ?? c.seq + 1;
      this.send(c, { op: 'update', unit, seq: c.seq, at: Date.now(), ...fields });
    }
  }

  /** Changed overview rows to every overview subscriber (the next overview seq). */
  overviewUpdate(rows) {
    this.overviewSeq++;
    for (const c of this.clients) {
      if (c.overview) this.send(c, { op: 'overview', seq: this.overviewSeq, at: Date.now(), units: rows });
    }
  }

  alert(unit, fields) {
    for (const c of this.clients) if (c.unit === unit) this.send(c, { op: 'alert', unit, at: Date.now(), ...fields });
  }

  /** Resolves with the first client frame (from now on) for which pred is true. */
  next(pred, timeoutMs = 10000) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('fake-live: expected frame did not come')), timeoutMs);
      this.waiters.push((m) => {
        if (!pred(m)) return false;
        clearTimeout(timer);
        resolve(m);
        return true;
      });
    });
  }

  send(client, msg) { this.frame(client, 0x2, Buffer.from(encode(msg))); }

  frame(client, opcode, payload) {
    if (client.socket.destroyed) return;
    const n = payload.length;
    const head = n < 126 ? Buffer.from([0x80 | opcode, n])
      : n < 65536 ? Buffer.from([0x80 | opcode, 126, n >> 8, n & 255])
        : (() => { const h = Buffer.alloc(10); h[0] = 0x80 | opcode; h[1] = 127; h.writeBigUInt64BE(BigInt(n), 2); return h; })();
    client.socket.write(Buffer.concat([head, payload]));
  }

  close(client, code) {
    const p = Buffer.alloc(2);
    p.writeUInt16BE(code);
    this.frame(client, 0x8, p);
    client.socket.end();
    this.clients.delete(client);
  }

  /** Like a killed daemon: every connection drops without a close frame. */
  dropAll() {
    for (const c of this.clients) c.socket.destroy();
    this.clients.clear();
  }
}
