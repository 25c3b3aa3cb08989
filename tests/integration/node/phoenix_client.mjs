// Drives a Bastion ChannelSocket with the official phoenix client, unchanged.
//
//   node phoenix_client.mjs ws://host:port/socket [ws://other-host:port/socket]
//   TRANSPORT=longpoll node phoenix_client.mjs ...    (Phoenix's long-poll transport)
//   SERIALIZER=v1 node phoenix_client.mjs ...         (the 1.0.0 JSON-object serializer)
//
// Alice connects to the first URL, Bob to the second (the same one if only one is given).
// Prints one JSON object with what each saw; exits 1 if the scenario does not finish.
import {LongPoll, Presence, Socket} from "phoenix"
import WebSocket from "ws"

const [urlA, urlB = urlA] = process.argv.slice(2)
// Node 20 has no global WebSocket: hand the client the `ws` package as its transport.
// LongPoll uses Node's fetch.
const transport = process.env.TRANSPORT === "longpoll" ? LongPoll : WebSocket
// phoenix.js speaks V1 when given vsn 1.0.0 and plain JSON in place of its V2 arrays.
const serializer = process.env.SERIALIZER === "v1"
  ? {vsn: "1.0.0", encode: (msg, callback) => callback(JSON.stringify(msg)),
     decode: (raw, callback) => callback(JSON.parse(raw))}
  : {}
const seen = {alice: {raw: []}, bob: {raw: []}}
const timer = setTimeout(() => finish(1, "timeout"), 15000)

function finish(code, error){
  clearTimeout(timer)
  console.log(JSON.stringify({error, ...seen}))
  process.exit(code)
}

function connect(url, name){
  const socket = new Socket(url, {transport, ...serializer, heartbeatIntervalMs: 1000, params: {client: "node"}})
  socket.onError(() => seen[name].socketError = true)
  socket.connect()
  const channel = socket.channel("room:lobby", {name})
  const presence = new Presence(channel)
  for(const event of ["presence_state", "presence_diff", "shout"]){
    channel.on(event, payload => seen[name].raw.push([event, payload]))
  }
  presence.onSync(() => {
    seen[name].users = presence.list(id => id).sort()
    onSync[name].forEach(check => check(seen[name].users))
  })
  return {socket, channel, presence}
}

const onSync = {alice: [], bob: []}
const waitUsers = (name, predicate) => new Promise(resolve => {
  if(seen[name].users && predicate(seen[name].users)){ return resolve() }
  onSync[name].push(users => predicate(users) && resolve())
})
const reply = push => new Promise(resolve => {
  push.receive("ok", response => resolve({status: "ok", response}))
      .receive("error", response => resolve({status: "error", response}))
      .receive("timeout", () => resolve({status: "timeout"}))
})

try {
  const alice = connect(urlA, "alice")
  seen.alice.join = await reply(alice.channel.join())
  await waitUsers("alice", users => users.includes("alice"))

  const bob = connect(urlB, "bob")
  seen.bob.join = await reply(bob.channel.join())
  await waitUsers("alice", users => users.includes("bob"))
  await waitUsers("bob", users => users.includes("alice") && users.includes("bob"))

  const heard = new Promise(resolve => bob.channel.on("shout", resolve))
  seen.alice.shoutReply = await reply(alice.channel.push("shout", {body: "hello"}))
  seen.bob.shout = await heard
  seen.alice.failReply = await reply(alice.channel.push("fail", {}))
  seen.alice.afterFailReply = await reply(alice.channel.push("shout", {body: "still alive"}))

  const mallory = new Socket(urlA, {transport, ...serializer})
  mallory.connect()
  const refused = mallory.channel("room:lobby", {name: "mallory"})
  seen.malloryJoin = await reply(refused.join())
  mallory.disconnect()

  await reply(bob.channel.leave())
  await waitUsers("alice", users => !users.includes("bob"))
  alice.socket.disconnect()
  bob.socket.disconnect()
  finish(0, null)
} catch(error){
  finish(1, String(error && error.stack || error))
}
