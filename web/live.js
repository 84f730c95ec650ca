// The live connection (SPEC §7, subprotocol kinerja-live.v1): socket, auth, the unit
// subscription, sequence checking, liveness and reconnection. It knows nothing of the
// DOM: it hands checked frames to onFrame and its state to onState.

import { decode, encode } from './node_modules/@msgpack/msgpack/dist.esm/index.mjs';

export const SUBPROTOCOL = 'kinerja-live.v1';

// Back-off between reconnect attempts: doubles from 0.5 s up to 15 s, each delay drawn
// from [cap/2, cap] ("equal jitter") so that a wall of screens restarted together
// does not hammer a restarted daemon in step, yet never retries faster than 0.5 s.
export const BACKOFF_MIN_MS = 500;
export const BACKOFF_MAX_MS = 15000;
// The daemon's keep-alive pings are WebSocket control frames, which browsers answer
// but never show to JavaScript. So when the feed has been quiet for PROBE_MS the page
// asks for something cheap ({"op":"units"}) and counts the answer as a sign of life.
// No frame at all for STALE_MS → "stale"; for DEAD_MS → the connection is presumed
// dead (a half-open TCP connection may never report a close) and is replaced.
export const PROBE_MS = 15000;
export const STALE_MS = 30000;
export const DEAD_MS = 65000;

export function backoffDelay(attempt, random = Math.random) {
  const cap = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** Math.min(attempt, 10));
  return Math.max(BACKOFF_MIN_MS, Math.round(cap / 2 + random() * (cap / 2)));
}

export function defaultUrl(loc = location) {
  // Same host and port as the page; wss: when the page came over https:.
  return `${loc.protocol === 'https:' ? 'wss:' : 'ws:'}//${loc.host}/`;
}

/**
 * States reported to onState:
 *   connecting    first attempt, nothing received yet
 *   live          connected and frames arrive
 *   stale         connected, but no frame for more than STALE_MS
 *   reconnecting  the socket closed or failed; the next attempt is scheduled
 *   unauthorized  the daemon refused the token (close 1008 or an auth error);
 *                 attempts continue at the slowest pace until a new token is given
 */
export class LiveClient {
  constructor({ url = defaultUrl(), getToken = () => null, createSocket, onFrame, onState, now = Date.now }) {
    this.url = url;
    this.getToken = getToken;
    this.createSocket = createSocket || ((u, p) => new WebSocket(u, p));
    this.onFrame = onFrame;
    this.onState = onState;
    this.now = now;

    this.ws = null;
    this.unit = null;          // the unit we want to be subscribed to
    this.overview = false;     // the overview wanted; overviewSeq: its last seq (null: none yet)
    this.overviewSeq = null;
    this.seq = null;           // last applied seq of that unit
    this.awaitingSnapshot = false;
    this.attempt = 0;
    this.retryTimer = 0;
    this.retryAt = 0;
    this.lastFrameAt = 0;
    this.lastProbeAt = 0;
    this.lastDataAt = 0;       // `at` (or arrival time) of the last snapshot/update/alert
    this.state = 'connecting';
    this.authRejected = false;
    this.stopped = true;
    this.stats = { frames: 0, resyncs: 0, connects: 0, badFrames: 0 };
    this.watchdog = 0;
  }

  start() {
    if (!this.stopped) return;
    this.stopped = false;
    // One interval for the whole life of the client (not one per connection), so
    // nothing accumulates however often it reconnects. Browsers throttle timers in
    // background tabs to once a second or less: every check below compares clock
    // times instead of counting ticks, so a late tick only delays it.
    this.watchdog = setInterval(() => this.checkLiveness(), 1000);
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearInterval(this.watchdog);
    clearTimeout(this.retryTimer);
    this.dropSocket();
  }

  /** Reconnects now (a new token, the network came back, the tab became visible). */
  reconnectNow() {
    if (this.stopped) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = 0;
    this.attempt = 0;
    this.authRejected = false;
    this.dropSocket();
    this.connect();
  }

  /** Wakes a pending retry early; does nothing to a working connection. */
  nudge() {
    if (!this.stopped && !this.ws && this.retryTimer) {
      clearTimeout(this.retryTimer);
      this.retryTimer = 0;
      this.connect();
    }
  }

  /** Changes the subscription; null unsubscribes. Survives reconnects. */
  subscribe(unit) {
    if (unit === this.unit) return;
    if (this.unit) this.send({ op: 'unsubscribe', unit: this.unit });
    this.unit = unit || null;
    this.seq = null;
    this.awaitingSnapshot = !!this.unit;
    if (this.unit) this.send({ op: 'subscribe', unit: this.unit });
  }

  /** The agency overview (SPEC §14) on or off. Survives reconnects. */
  subscribeOverview(on) {
    if (!!on === this.overview) return;
    this.overview = !!on;
    this.overviewSeq = null;
    this.send({ op: on ? 'subscribe' : 'unsubscribe', overview: true });
  }

  requestUnits() { this.send({ op: 'units' }); }

  send(msg) {
    const ws = this.ws;
    if (!ws || ws.readyState !== 1) return false;
    ws.send(encode(msg));
    return true;
  }

  // ---- connection life ----

  connect() {
    this.retryTimer = 0;
    let ws;
    try {
      ws = this.createSocket(this.url, SUBPROTOCOL);
    } catch (e) {
      this.scheduleRetry();
      return;
    }
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    this.stats.connects++;
    // Handlers are properties of this one socket: replaced with it, never stacked.
    ws.onopen = () => this.onOpen(ws);
    ws.onmessage = (ev) => this.onMessage(ws, ev.data);
    ws.onclose = (ev) => this.onClose(ws, ev.code, ev.reason);
    ws.onerror = () => { /* a close event always follows */ };
  }

  onOpen(ws) {
    if (ws !== this.ws) return;
    const t = this.now();
    this.lastFrameAt = t;  // the quiet period starts now
    this.lastProbeAt = t;
    const token = this.getToken();
    // Browsers cannot set an Authorization header on the upgrade: the token goes in the
    // first frame. Without a token the daemon may still serve us (auth: false).
    if (token) this.send({ op: 'auth', token });
    this.send({ op: 'units' });
    if (this.unit) {
      this.seq = null;
      this.awaitingSnapshot = true;
      this.send({ op: 'subscribe', unit: this.unit });
    }
    if (this.overview) {
      this.overviewSeq = null;
      this.send({ op: 'subscribe', overview: true });
    }
  }

  onClose(ws, code, reason) {
    if (ws !== this.ws) return;
    this.ws = null;
    if (code === 1008) this.authRejected = true;
    if (this.stopped) return;
    this.scheduleRetry(reason);
  }

  dropSocket() {
    const ws = this.ws;
    this.ws = null;
    if (!ws) return;
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    try { ws.close(1000); } catch { /* already closing */ }
  }

  scheduleRetry() {
    // A refused token will not start working by itself: retry at the slowest pace
    // (the daemon's configuration may be reloaded) until the user gives another.
    const delay = this.authRejected ? BACKOFF_MAX_MS : backoffDelay(this.attempt);
    this.attempt++;
    this.retryAt = this.now() + delay;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(), delay);
    this.setState(this.authRejected ? 'unauthorized' : 'reconnecting');
  }

  checkLiveness() {
    const ws = this.ws;
    if (this.stopped || !ws || ws.readyState !== 1) {
      // Keep the "retrying in n s" count-down of the badge moving.
      if (this.retryTimer) this.setState(this.state, true);
      return;
    }
    const t = this.now();
    const quiet = t - this.lastFrameAt;
    if (quiet > DEAD_MS) {
      this.dropSocket();
      this.scheduleRetry();
      return;
    }
    if (quiet > PROBE_MS && t - this.lastProbeAt > PROBE_MS) {
      this.lastProbeAt = t;
      this.send({ op: 'units' });
    }
    if (quiet > STALE_MS) this.setState('stale');
  }

  setState(state, force = false) {
    if (state === this.state && !force) return;
    this.state = state;
    this.onState?.(this.status());
  }

  status() {
    return {
      state: this.state,
      lastDataAt: this.lastDataAt,
      lastFrameAt: this.lastFrameAt,
      retryInMs: this.retryTimer ? Math.max(0, this.retryAt - this.now()) : 0,
      authRejected: this.authRejected,
    };
  }

  // ---- frames ----

  onMessage(ws, data) {
    if (ws !== this.ws) return;
    let msg;
    try {
      // Frames are binary msgpack; a text frame would be a daemon bug, but decoding it
      // as UTF-8 bytes costs nothing and keeps the page tolerant.
      msg = decode(typeof data === 'string' ? new TextEncoder().encode(data) : new Uint8Array(data));
    } catch {
      this.stats.badFrames++;
      return;
    }
    if (!msg || typeof msg !== 'object' || typeof msg.op !== 'string') {
      this.stats.badFrames++;
      return;
    }
    const t = this.now();
    this.lastFrameAt = t;
    this.stats.frames++;
    if (this.state !== 'live') {
      this.attempt = 0;
      this.authRejected = false;
      this.setState('live');
    }
    this.handle(msg, t);
  }

  /** Sequence and unit checks; exported behaviour is what reaches onFrame. */
  handle(msg, t) {
    switch (msg.op) {
      case 'snapshot':
        // Also arrives unasked after the daemon dropped our backlog (SPEC §7).
        if (msg.unit !== this.unit) return;
        this.seq = typeof msg.seq === 'number' ? msg.seq : null;
        this.awaitingSnapshot = false;
        this.noteData(msg, t);
        break;
      case 'update':
        if (msg.unit !== this.unit || this.awaitingSnapshot) return;
        if (typeof msg.seq === 'number' && this.seq !== null && msg.seq !== this.seq + 1) {
          // A gap (or a repeat) means our state is no longer the daemon's: ask for a
          // fresh snapshot and ignore updates until it comes. Unsubscribe first so that
          // a daemon that treats a second subscribe as a no-op still sends one.
          this.stats.resyncs++;
          this.awaitingSnapshot = true;
          this.send({ op: 'unsubscribe', unit: this.unit });
          this.send({ op: 'subscribe', unit: this.unit });
          return;
        }
        if (typeof msg.seq === 'number') this.seq = msg.seq;
        this.noteData(msg, t);
        break;
      case 'alert':
      case 'alert_ack': // SPEC §16
        if (msg.unit !== this.unit) return;
        this.noteData(msg, t);
        break;
      case 'error':
        if (/auth|token|unauthori[sz]ed|forbidden/i.test(String(msg.error))) this.authRejected = true;
        break;
      case 'units':
        break;
      case 'overview':
        if (!this.overview) return;
        // The first frame holds every row; a gap means rows were missed: start again.
        msg.full = this.overviewSeq === null;
        if (!msg.full && typeof msg.seq === 'number' && msg.seq !== this.overviewSeq + 1) {
          this.stats.resyncs++;
          this.overviewSeq = null;
          this.send({ op: 'unsubscribe', overview: true });
          this.send({ op: 'subscribe', overview: true });
          return;
        }
        if (typeof msg.seq === 'number') this.overviewSeq = msg.seq;
        this.noteData(msg, t);
        break;
      default:
        // Unknown ops are ignored so that the daemon can add some without breaking us;
        // they still count as signs of life (above).
        return;
    }
    this.onFrame?.(msg);
  }

  noteData(msg, t) {
    this.lastDataAt = typeof msg.at === 'number' ? msg.at : t;
  }
}
