// The desktop socket's promise, checked in Node with a fake WebSocket: after a drop it reconnects with
// `?after=<highest id seen>`, shows nothing twice (routing's late-committed messages and a replay may repeat an
// id), and answers requests by their `ref`. Run by tests/unit/web/test_desk_js.py (`node --test`).

import assert from "node:assert/strict";
import { test } from "node:test";

const sockets = [];
class FakeSocket {
  static OPEN = 1;
  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.sent = [];
    this.listeners = {};
    sockets.push(this);
  }
  addEventListener(type, fn) {
    (this.listeners[type] ||= []).push(fn);
  }
  emit(type, event = {}) {
    for (const fn of this.listeners[type] || []) fn(event);
  }
  open() {
    this.readyState = 1;
    this.emit("open");
  }
  deliver(message) {
    this.emit("message", { data: JSON.stringify(message) });
  }
  send(data) {
    this.sent.push(JSON.parse(data));
  }
  close(code = 1000) {
    this.readyState = 3;
    this.emit("close", { code });
  }
}

globalThis.WebSocket = FakeSocket;
globalThis.location = { protocol: "http:", host: "127.0.0.1:8100", pathname: "/workspace", assign() {} };
const timers = [];
globalThis.setTimeout = (fn) => timers.push(fn);
globalThis.setInterval = () => 0;
globalThis.clearInterval = () => {};
globalThis.clearTimeout = () => {};

const { Desk } = await import("../../../../services/web/static/js/desk.js");

test("resumes after a drop with the highest id seen and never shows an id twice", async () => {
  const shown = [];
  const states = [];
  const desk = new Desk({ onMessage: (m) => shown.push(m.id ?? m.type), onState: (s) => states.push(s) });
  desk.connect();
  const first = sockets.at(-1);
  assert.equal(first.url, "ws://127.0.0.1:8100/api/routing/v1/desktop/ws");
  first.open();
  first.deliver({ type: "hello", last_id: 40, offers: [], work: [], presence: "available" });
  first.deliver({ type: "offer", id: 41 });
  first.deliver({ type: "offer", id: 43 });
  first.deliver({ type: "work_updated", id: 42 }); // committed late: below the newest, still shown
  first.deliver({ type: "offer", id: 43 }); // a repeat
  first.close(1006);
  assert.deepEqual(states, ["connecting", "connected", "reconnecting"]);

  timers.shift()(); // the back-off elapses
  const second = sockets.at(-1);
  assert.equal(second.url, "ws://127.0.0.1:8100/api/routing/v1/desktop/ws?after=43");
  second.open();
  second.deliver({ type: "message", id: 42 }); // already shown before the drop
  second.deliver({ type: "message", id: 44 });
  assert.deepEqual(shown, ["hello", 41, 43, 42, 44]);
});

test("a request is answered by the reply with its ref, and an error reply rejects it", async () => {
  const desk = new Desk({ onMessage: () => {}, onState: () => {} });
  desk.connect();
  const socket = sockets.at(-1);
  socket.open();
  const accepted = desk.request("accept", { offer_id: "o-1" });
  const [sent] = socket.sent;
  assert.equal(sent.type, "accept");
  assert.equal(sent.offer_id, "o-1");
  socket.deliver({ type: "accepted", ref: sent.ref, work_id: "w-1" });
  assert.equal((await accepted).work_id, "w-1");
  const refused = desk.request("decline", { offer_id: "o-2" });
  socket.deliver({ type: "error", ref: socket.sent[1].ref, detail: "this offer was made to another agent" });
  await assert.rejects(refused, /another agent/);
});

test("a desk opened elsewhere or signed out does not reconnect by itself", async () => {
  const states = [];
  const desk = new Desk({ onMessage: () => {}, onState: (s) => states.push(s) });
  desk.connect();
  const socket = sockets.at(-1);
  socket.open();
  const pending = timers.length;
  socket.close(4000);
  assert.equal(states.at(-1), "replaced");
  assert.equal(timers.length, pending);
});
