// The agent desktop stream through the gateway. Every message routing sends has a feed id; the socket keeps the
// highest one seen and reconnects with `?after=<it>`, so routing sends exactly what was missed — and ids seen
// already are dropped, so nothing is shown twice. A fresh start (no id yet) gets a `hello` snapshot instead.

import { signInAgain } from "./api.js";

const REPLACED = 4000;
const SIGNED_OUT = 4401;
const NO_AGENT = 4404;
const PING_EVERY_MS = 25000;
const PONG_WITHIN_MS = 10000;

export class Desk {
  constructor({ onMessage, onState }) {
    this.onMessage = onMessage;
    this.onState = onState;
    this.lastId = null;
    this.seen = new Set();
    this.pending = new Map();
    this.refs = 0;
    this.retries = 0;
    this.stopped = false;
    this.ws = null;
  }

  url() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const after = this.lastId === null ? "" : `?after=${this.lastId}`;
    return `${scheme}://${location.host}/api/routing/v1/desktop/ws${after}`;
  }

  connect() {
    this.stopped = false;
    this.onState(this.lastId === null ? "connecting" : "reconnecting");
    const ws = new WebSocket(this.url());
    this.ws = ws;
    ws.addEventListener("open", () => {
      this.retries = 0;
      this.onState("connected");
      this.heartbeat();
    });
    ws.addEventListener("message", (event) => this.receive(event));
    ws.addEventListener("close", (event) => this.closed(ws, event));
  }

  receive(event) {
    const arrived = performance.now();
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return;
    }
    if (message.ref !== undefined && message.ref !== null && this.pending.has(message.ref)) {
      const { resolve, reject, timer } = this.pending.get(message.ref);
      this.pending.delete(message.ref);
      clearTimeout(timer);
      if (message.type === "error") reject(new Error(message.detail));
      else resolve(message);
      return;
    }
    if (message.type === "hello") {
      this.lastId = message.last_id ?? 0;
      this.seen.clear();
    } else if (typeof message.id === "number") {
      if (this.seen.has(message.id)) return;
      this.seen.add(message.id);
      if (this.seen.size > 5000) this.seen = new Set([...this.seen].slice(-2500));
      this.lastId = Math.max(this.lastId ?? 0, message.id);
    }
    this.onMessage(message, arrived);
  }

  closed(ws, event) {
    if (ws !== this.ws) return;
    clearInterval(this.pinger);
    for (const { reject, timer } of this.pending.values()) {
      clearTimeout(timer);
      reject(new Error("disconnected"));
    }
    this.pending.clear();
    if (this.stopped) return;
    if (event.code === SIGNED_OUT) {
      signInAgain();
      return;
    }
    if (event.code === REPLACED) {
      this.onState("replaced");
      return;
    }
    if (event.code === NO_AGENT) {
      this.onState("no_agent");
      return;
    }
    this.onState("reconnecting");
    const delay = Math.min(10000, 500 * 2 ** this.retries) * (0.75 + Math.random() / 2);
    this.retries += 1;
    setTimeout(() => this.connect(), delay);
  }

  heartbeat() {
    clearInterval(this.pinger);
    this.pinger = setInterval(() => {
      this.request("ping", {}, PONG_WITHIN_MS).catch(() => this.ws && this.ws.close(4000 + 999, "no pong"));
    }, PING_EVERY_MS);
  }

  /** Send `{type, ...body, ref}` and wait for the reply that carries the same `ref`. */
  request(type, body = {}, timeoutMs = 10000) {
    return new Promise((resolve, reject) => {
      if (!this.ws || this.ws.readyState !== WebSocket.OPEN) {
        reject(new Error("not connected"));
        return;
      }
      this.refs += 1;
      const ref = `r${this.refs}`;
      const timer = setTimeout(() => {
        this.pending.delete(ref);
        reject(new Error("no answer"));
      }, timeoutMs);
      this.pending.set(ref, { resolve, reject, timer });
      this.ws.send(JSON.stringify({ type, ref, ...body }));
    });
  }

  /** Take the desk back after another window replaced it. */
  reclaim() {
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearInterval(this.pinger);
    if (this.ws) this.ws.close(1000, "bye");
  }
}
