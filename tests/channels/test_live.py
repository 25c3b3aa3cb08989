"""The official phoenix JS client against real servers: one process, then two sharing Redis."""

import json
import os
import shutil
import subprocess
import uuid

import httpx

from tests.channels._live import NODE_DIR, node_modules, uvicorn

APP = "tests.channels.live_app:make_app"


def run_client(*urls: str, transport: str = "websocket", serializer: str = "v2") -> dict:
    node_modules()
    sockets = [url.replace("http://", "ws://") + "/socket" for url in urls]
    result = subprocess.run(
        [shutil.which("node") or "node", "phoenix_client.mjs", *sockets],
        cwd=NODE_DIR,
        env={**os.environ, "TRANSPORT": transport, "SERIALIZER": serializer},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def check_scenario(seen: dict) -> None:
    alice, bob = seen["alice"], seen["bob"]
    assert alice["join"] == {"status": "ok", "response": {"welcome": "alice"}}
    assert bob["join"] == {"status": "ok", "response": {"welcome": "bob"}}
    assert seen["malloryJoin"] == {"status": "error", "response": {"reason": "unauthorized"}}
    # push with reply, and the broadcast it makes
    assert alice["shoutReply"] == {"status": "ok", "response": {"echo": "hello"}}
    assert bob["shout"] == {"body": "hello", "from": "alice"}
    # a failing handler answers an error; the channel keeps working
    assert alice["failReply"] == {"status": "error", "response": {"reason": "internal error"}}
    assert alice["afterFailReply"]["status"] == "ok"
    # presence state and diffs, as phoenix.js Presence reads them
    events = [event for event, _ in alice["raw"]]
    assert events[0] == "presence_state"
    diffs = [payload for event, payload in alice["raw"] if event == "presence_diff"]
    joined = [key for diff in diffs for key in diff["joins"]]
    left = [key for diff in diffs for key in diff["leaves"]]
    assert "alice" in joined and "bob" in joined and left == ["bob"]
    [meta] = next(d for d in diffs if "bob" in d["joins"])["joins"]["bob"]["metas"]
    assert set(meta) == {"node", "phx_ref"}
    assert alice["users"] == ["alice"]  # bob left
    assert bob["raw"][0][0] == "presence_state"


def test_the_phoenix_js_client_joins_pushes_and_sees_presence():
    node_modules()
    with uvicorn(APP) as url:
        seen = run_client(url)
    check_scenario(seen)


def test_the_phoenix_js_client_over_long_polling():
    with uvicorn(APP) as url:
        seen = run_client(url, transport="longpoll")
    check_scenario(seen)


def test_the_phoenix_js_client_with_the_v1_serializer():
    with uvicorn(APP) as url:
        seen = run_client(url, serializer="v1")
    check_scenario(seen)


def test_two_processes_share_broadcasts_and_presence_through_redis(redis_url):
    node_modules()
    env = {"BASTION_TEST_REDIS_URL": redis_url, "BASTION_TEST_PREFIX": uuid.uuid4().hex[:8]}
    with uvicorn(APP, env) as first, uvicorn(APP, env) as second:
        seen = run_client(first, second)
    check_scenario(seen)
    # bob's presence came from the other process: its meta names that process
    diffs = [p for e, p in seen["alice"]["raw"] if e == "presence_diff"]
    alice_node = next(d for d in diffs if "alice" in d["joins"])["joins"]["alice"]["metas"][0]
    bob_node = next(d for d in diffs if "bob" in d["joins"])["joins"]["bob"]["metas"][0]
    assert alice_node["node"] != bob_node["node"]


def test_long_polls_reach_their_session_through_either_process(redis_url):
    """No sticky sessions: GETs and POSTs of one session alternate between two processes."""
    env = {"BASTION_TEST_REDIS_URL": redis_url, "BASTION_TEST_PREFIX": uuid.uuid4().hex[:8]}
    with uvicorn(APP, env) as first, uvicorn(APP, env) as second, httpx.Client(timeout=30) as http:
        path = "/socket/longpoll"
        token = http.get(first + path, params={"vsn": "2.0.0"}).json()["token"]
        session = {"vsn": "2.0.0", "token": token}

        def send(url: str, *frames: list) -> None:
            body = "\n".join(json.dumps(f) for f in frames)
            assert http.post(url + path, params=session, content=body).json() == {
                "status": 200,
                "token": token,
            }

        def receive(until) -> list:
            seen: list = []
            for url in [second, first] * 5:  # bounded; each poll asks the other process
                answer = http.get(url + path, params=session).json()
                assert answer["status"] in (200, 204) and answer["token"] == token
                seen += [json.loads(m) for m in answer.get("messages", [])]
                if until(seen):
                    return seen
            raise AssertionError(f"not seen: {seen}")

        send(second, ["1", "1", "room:relay", "phx_join", {"name": "zoe"}])
        seen = receive(lambda s: any(f[3] == "presence_diff" for f in s))
        assert ["1", "1", "room:relay", "phx_reply", {"status": "ok", "response": {"welcome": "zoe"}}] in seen
        send(first, ["1", "2", "room:relay", "shout", {"body": "over there"}])
        seen = receive(lambda s: any(f[3] == "shout" for f in s))
        assert [None, None, "room:relay", "shout", {"body": "over there", "from": "zoe"}] in seen

        # A token no process owns: a POST is refused, a GET opens a new session.
        stale = {"token": token.rpartition(".")[0] + ".gone"}
        assert http.post(second + path, params=stale, content="[]").status_code == 410
        fresh = http.get(second + path, params=stale).json()
        assert fresh["status"] == 410 and fresh["token"] not in (token, stale["token"])
