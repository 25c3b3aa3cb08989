"""Creates the benchmark's tables and rows: Django's migrate (its auth, sessions and admin
tables, and catalog_author / catalog_article), 1,000 authors and 100,000 articles, a Django
superuser, and Bastion's user and admin tables with a staff user. Both admins sign in as
``admin`` / ``bench-password-123``. Needs BENCH_PG_DSN; run with the benchmark's venv."""

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import asyncpg

HERE = Path(__file__).resolve().parent
DSN = os.environ["BENCH_PG_DSN"]
USER, PASSWORD = "admin", "bench-password-123"
ARTICLES, AUTHORS = 100_000, 1_000
WORDS = ["engine", "notes", "quantum", "history", "compilers", "gardens", "rivers", "machines"]


def django(*args: str) -> None:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "django_site.settings",
           "DJANGO_SUPERUSER_PASSWORD": PASSWORD}
    subprocess.run([sys.executable, "-m", "django", *args], cwd=HERE, env=env, check=True,
                   stdout=subprocess.DEVNULL)


async def rows() -> None:
    db = await asyncpg.connect(DSN)
    await db.execute("TRUNCATE catalog_article, catalog_author RESTART IDENTITY CASCADE")
    await db.execute(
        "INSERT INTO catalog_author (name, email) SELECT 'Author ' || i, 'author' || i || "
        "'@example.com' FROM generate_series(1, $1) AS i", AUTHORS)
    words = "ARRAY[" + ", ".join(f"'{w}'" for w in WORDS) + "]"
    await db.execute(f"""
        INSERT INTO catalog_article (title, slug, body, status, featured, views, created_at,
                                     author_id)
        SELECT 'On ' || ({words})[1 + i % 8] || ' and ' || ({words})[1 + (i / 8) % 8]
                 || ', part ' || i,
               'article-' || i,
               repeat('A paragraph of body text. ', 20),
               (ARRAY['draft', 'published', 'archived'])[1 + i % 3],
               i % 10 = 0,
               (i * 7919) % 100000,
               timestamptz '2026-01-01' + i * interval '1 minute',
               1 + i % $2
        FROM generate_series(1, $1) AS i""", ARTICLES, AUTHORS)
    await db.execute("ANALYZE catalog_article; ANALYZE catalog_author")
    await db.close()


async def bastion_staff() -> None:
    sys.path.insert(0, str(HERE))
    from sqlalchemy import delete
    from sqlalchemy.ext.asyncio import create_async_engine

    from bastion.admin import grant
    from bastion.admin._schema import metadata as admin_tables
    from bastion.auth.models import User
    from bastion.auth.passwords import PasswordHasher
    from bastion.db import Model

    engine = create_async_engine(DSN.replace("postgresql://", "postgresql+asyncpg://", 1))
    async with engine.begin() as conn:
        await conn.run_sync(lambda c: Model.metadata.create_all(c, tables=[User.__table__]))
        await conn.run_sync(admin_tables.create_all)
        await conn.execute(delete(User).where(User.username == USER))
    from sqlalchemy.ext.asyncio import AsyncSession

    async with AsyncSession(engine) as db:
        user = User(email="admin@example.com", username=USER, roles=[],
                    password_hash=await PasswordHasher().hash(PASSWORD))
        db.add(user)
        await db.flush()
        await grant(db, user, "*")
        await db.commit()
    await engine.dispose()


if __name__ == "__main__":
    django("migrate", "--noinput")
    asyncio.run(rows())
    try:
        django("createsuperuser", "--noinput", "--username", USER, "--email", "a@example.com")
    except subprocess.CalledProcessError:
        pass  # already there (a second run on the same database)
    asyncio.run(bastion_staff())
