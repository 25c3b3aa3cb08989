"""Litestar on SQLAlchemy (async), as its docs write it: the SQLAlchemy plugin injects
``db_session`` and commits with the ``autocommit`` before-send handler."""

from litestar import Litestar, MediaType, get
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.plugins.sqlalchemy import (
    AsyncSessionConfig,
    EngineConfig,
    SQLAlchemyAsyncConfig,
    SQLAlchemyPlugin,
)
from litestar.response import Template
from litestar.template.config import TemplateConfig
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

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


@get("/plaintext", media_type=MediaType.TEXT)
async def plaintext() -> str:
    return "Hello, World!"


@get("/db")
async def single(db_session: AsyncSession) -> dict[str, int]:
    world = await db_session.get(World, random_ids(1)[0])
    return {"id": world.id, "randomNumber": world.randomnumber}


@get("/queries")
async def many(db_session: AsyncSession, queries: str | None = None) -> list[dict[str, int]]:
    worlds = [await db_session.get(World, i) for i in random_ids(query_count(queries))]
    return [{"id": w.id, "randomNumber": w.randomnumber} for w in worlds]


@get("/updates")
async def updates(db_session: AsyncSession, queries: str | None = None) -> list[dict[str, int]]:
    worlds = [await db_session.get(World, i) for i in random_ids(query_count(queries))]
    for world in worlds:
        world.randomnumber = new_number()
    await db_session.flush()
    return [{"id": w.id, "randomNumber": w.randomnumber} for w in worlds]


@get("/fortunes-db")
async def fortunes(db_session: AsyncSession) -> Template:
    rows = list(await db_session.scalars(select(Fortune)))
    rows.append(Fortune(id=0, message=ADDED_FORTUNE))
    rows.sort(key=lambda fortune: fortune.message)
    return Template(template_name="fortunes.html", context={"fortunes": rows})


config = SQLAlchemyAsyncConfig(
    connection_string=SQLALCHEMY_URL,
    engine_config=EngineConfig(pool_size=POOL_SIZE, max_overflow=0),
    session_config=AsyncSessionConfig(expire_on_commit=False),
    before_send_handler="autocommit",
    create_all=False,
)
app = Litestar(
    route_handlers=[plaintext, single, many, updates, fortunes],
    plugins=[SQLAlchemyPlugin(config=config)],
    template_config=TemplateConfig(directory=TEMPLATES, engine=JinjaTemplateEngine),
)
