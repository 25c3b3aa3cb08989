"""The tour recounts tags in a job after each write, run by the worker inside the app."""

import asyncio

from bastion.jobs.testing import JobsTester
from bastion.testing import AsyncTestClient
from examples.tour.app import app, count_tags, jobs


async def tags(client: AsyncTestClient) -> list[dict[str, object]]:
    response = await client.get("/api/tags")
    assert response.status_code == 200
    body: list[dict[str, object]] = response.json()
    return body


async def test_tags_are_recounted_by_a_job_after_each_write() -> None:
    async with AsyncTestClient(app) as client:
        assert await tags(client) == [{"tag": "docs", "todos": 1}]
        for title, labels in [("Write a job", ["jobs", "docs"]), ("Run it", ["jobs"])]:
            body = {"title": title, "tags": labels}
            assert (await client.post("/api/todos", json=body)).status_code == 201
        expected = [{"tag": "docs", "todos": 2}, {"tag": "jobs", "todos": 2}]
        for _ in range(200):  # the in-process worker runs the recount within milliseconds
            if await tags(client) == expected:
                break
            await asyncio.sleep(0.01)
        assert await tags(client) == expected
        assert (await client.delete("/api/todos/1")).status_code == 204
        for _ in range(200):
            if await tags(client) == [{"tag": "jobs", "todos": 2}, {"tag": "docs", "todos": 1}]:
                break
            await asyncio.sleep(0.01)
        assert await tags(client) == [{"tag": "jobs", "todos": 2}, {"tag": "docs", "todos": 1}]


async def test_a_burst_of_writes_shares_one_pending_recount() -> None:
    async with AsyncTestClient(app) as client:
        with JobsTester(jobs, app=app) as tester:
            for n in range(3):
                body = {"title": f"todo {n}", "tags": ["burst"]}
                assert (await client.post("/api/todos", json=body)).status_code == 201
            assert len(tester.enqueued(count_tags)) == 1  # three writes, one pending job
            assert await tester.drain() == 1
        assert {"tag": "burst", "todos": 3} in await tags(client)
