// The chat page: the official phoenix client, unchanged, against a Bastion ChannelSocket.
import {LongPoll, Presence, Socket} from "/static/vendor/phoenix.mjs"

const $ = id => document.getElementById(id)

function addMessage({author, body}){
  const item = document.createElement("li")
  const who = document.createElement("span")
  who.className = "author"
  who.textContent = author            // textContent: names and messages are never HTML
  item.append(who, document.createTextNode(body))
  $("messages").append(item)
  item.scrollIntoView()
}

function renderOnline(presence){
  const names = presence.list((name, {metas}) => `${name}${metas.length > 1 ? ` (${metas.length})` : ""}`)
  $("online").replaceChildren(...names.sort().map(name => {
    const item = document.createElement("li")
    item.textContent = name
    return item
  }))
}

$("enter").addEventListener("submit", event => {
  event.preventDefault()
  const name = $("name").value.trim(), room = $("room").value.trim()
  // Long polling when WebSockets fail (a proxy that drops them), as Phoenix apps ship;
  // ?transport=longpoll uses it from the start.
  const longpoll = new URLSearchParams(location.search).get("transport") === "longpoll"
  const socket = new Socket("/socket", longpoll ? {transport: LongPoll} : {longPollFallbackMs: 2500})
  socket.connect()
  const channel = socket.channel(`room:${room}`, {name})
  const presence = new Presence(channel)
  presence.onSync(() => renderOnline(presence))
  channel.on("new_msg", addMessage)
  channel.join()
    .receive("ok", ({history}) => {
      $("enter").hidden = true
      $("chat").hidden = false
      $("title").textContent = `#${room}`
      $("messages").replaceChildren()
      history.forEach(addMessage)
      $("body").focus()
    })
    .receive("error", ({reason}) => {
      $("error").textContent = `Could not join: ${typeof reason === "string" ? reason : JSON.stringify(reason)}`
      channel.leave()
      socket.disconnect()
    })
  $("send").addEventListener("submit", event => {
    event.preventDefault()
    const body = $("body").value
    if(!body) return
    channel.push("new_msg", {body})
      .receive("ok", () => { $("body").value = "" })
      .receive("error", ({reason}) => { $("error").textContent = reason })
  })
})
