// One client process of benchmarks/realtime/run: opens `count` WebSockets, subscribes each
// to the benchmark topic in the app's own protocol, then records every broadcast's delivery.
//
//   node load.mjs '{"url": "ws://...", "proto": "plain|phoenix|socketio", "count": 5000,
//                   "broadcasts": 50, "out": "/tmp/x.bin"}'
//
// Prints one JSON line {"joined": [startMs, endMs], "failed": n} when every socket has
// joined, then, once every socket had the last broadcast (or nothing arrived for `idle`
// seconds), {"deliveries", "firstSent", "lastReceived", "last": [per broadcast: latest
// latency ms], "counts": [...], "closed"}; the latencies of all deliveries (ms, float32)
// go to `out`. Clocks: the server stamps `t` with its wall clock in ms, as does this.
import { writeFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import WebSocket from "ws";

const opts = JSON.parse(process.argv[2]);
const { url, proto, count, broadcasts } = opts;
const idle = (opts.idle ?? 5) * 1000;
const inFlight = opts.inFlight ?? 256; // handshakes at once: below the server's backlog
const topic = "bench:fanout";
const now = () => performance.timeOrigin + performance.now();

const latencies = new Float32Array(count * broadcasts);
let deliveries = 0;
const last = new Array(broadcasts).fill(0);
const counts = new Array(broadcasts).fill(0);
let firstSent = Infinity;
let lastReceived = 0;
let finished = 0;
let joined = 0;
let failed = 0;
let closed = 0;
let opened = 0;
let started = 0;
let joinedAt = 0;
let lastActivity = now();
const sockets = [];

function tick(payload, received) {
  const latency = received - payload.t;
  if (deliveries < latencies.length) latencies[deliveries] = latency;
  deliveries++;
  counts[payload.n]++;
  if (latency > last[payload.n]) last[payload.n] = latency;
  if (payload.t < firstSent) firstSent = payload.t;
  lastReceived = received;
  lastActivity = received;
  if (payload.n === broadcasts - 1) {
    finished++;
    if (finished === count) done();
  }
}

function settle(ok) {
  if (ok) joined++;
  else failed++;
  if (joined + failed === count) {
    joinedAt = lastActivity = now();
    console.log(JSON.stringify({ joined: [started, joinedAt], failed }));
  }
  next();
}

function open(index) {
  const target = proto === "phoenix" ? `${url}?vsn=2.0.0` : proto === "socketio" ? `${url}?EIO=4&transport=websocket` : url;
  const ws = new WebSocket(target, { perMessageDeflate: false });
  sockets.push(ws);
  let isJoined = false;
  const join = () => { if (!isJoined) { isJoined = true; settle(true); } };
  ws.on("open", () => {
    if (proto === "phoenix") {
      ws.send(JSON.stringify([String(index), String(index), topic, "phx_join", {}]));
      const beat = setInterval(() => ws.readyState === 1 && ws.send(JSON.stringify([null, "hb", "phoenix", "heartbeat", {}])), 30000);
      ws.on("close", () => clearInterval(beat));
    }
  });
  ws.on("message", (data) => {
    const received = now();
    const text = data.toString();
    if (proto === "plain") {
      if (text === "joined") return join();
      const message = JSON.parse(text);  // the payload, or Bastion forward()'s envelope
      return tick(message.n === undefined ? message.payload : message, received);
    }
    if (proto === "phoenix") {
      const [, , , event, payload] = JSON.parse(text);
      if (event === "phx_reply") return join();
      if (event === "tick") return tick(payload, received);
      return;
    }
    // Engine.IO 4 / Socket.IO 5 over a bare WebSocket.
    if (text === "2") return ws.send("3");
    if (text.startsWith("0")) return ws.send("40");
    if (text.startsWith("40")) return join();
    if (text.startsWith("42")) {
      const [event, payload] = JSON.parse(text.slice(2));
      if (event === "tick") tick(payload, received);
    }
  });
  ws.on("error", () => {});
  ws.on("close", () => {
    closed++;
    if (!isJoined) { isJoined = true; settle(false); }
  });
}

let nextIndex = 0;
function next() {
  if (nextIndex < count) open(nextIndex++);
}

let reported = false;
function done() {
  if (reported) return;
  reported = true;
  if (opts.out) writeFileSync(opts.out, Buffer.from(latencies.buffer, 0, Math.min(deliveries, latencies.length) * 4));
  console.log(JSON.stringify({ deliveries, firstSent, lastReceived, last, counts, closed }));
  for (const ws of sockets) ws.terminate();
  setTimeout(() => process.exit(0), 100);
}

setInterval(() => {
  if (joinedAt && deliveries > 0 && now() - lastActivity > idle) done();
}, 250);
process.on("SIGTERM", done);

started = now();
for (let i = 0; i < Math.min(inFlight, count); i++) next();
