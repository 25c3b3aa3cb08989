"""FastAPI on SQLAlchemy (async), as its SQL tutorial writes it: a session dependency."""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.responses import PlainTextResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from ._common import (
    ADDED_FORTUNE,
    POOL_SIZE,
    SQLALCHEMY_URL,
    TEMPLATES,
    new_number,
    query_count,
    random_ids,
)
from ._models import Fortune, World

engine = create_async_engine(SQLALCHEMY_URL, pool_size=POOL_SIZE, max_overflow=0)
Session = async_sessionmaker(engine, expire_on_commit=False)
app = FastAPI()
templates = Jinja2Templates(directory=TEMPLATES)


async def get_session() -> AsyncIterator[AsyncSession]:
    async with Session() as session:
        yield session


DB = Annotated[AsyncSession, Depends(get_session)]


@app.get("/plaintext", response_class=PlainTextResponse)
async def plaintext():
    return "Hello, World!"


@app.get("/db")
async def single(db: DB):
    world = await db.get(World, random_ids(1)[0])
    return {"id": world.id, "randomNumber": world.randomnumber}


@app.get("/queries")
async def many(db: DB, queries: str | None = None):
    worlds = [await db.get(World, i) for i in random_ids(query_count(queries))]
    return [{"id": w.id, "randomNumber": w.randomnumber} for w in worlds]


@app.get("/updates")
async def updates(db: DB, queries: str | None = None):
    worlds = [await db.get(World, i) for i in random_ids(query_count(queries))]
    for world in worlds:
        world.randomnumber = new_number()
    await db.commit()
    return [{"id": w.id, "randomNumber": w.randomnumber} for w in worlds]


@app.get("/fortunes-db")
async def fortunes(request: Request, db: DB):
    rows = list(await db.scalars(select(Fortune)))
    rows.append(Fortune(id=0, message=ADDED_FORTUNE))
    rows.sort(key=lambda fortune: fortune.message)
    return templates.TemplateResponse(request, "fortunes.html", {"fortunes": rows})
