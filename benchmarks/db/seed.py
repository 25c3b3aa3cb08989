"""Creates and fills the TechEmpower tables (World: 10,000 rows, Fortune: 12), or, with
``--read ID,...``, prints those rows' randomNumber as JSON (the runner checks /updates)."""

import asyncio
import json
import os
import random
import sys

import asyncpg

sys.path.insert(0, os.path.dirname(__file__))
from peers._common import DSN  # noqa: E402

FORTUNES = [
    "fortune: No such file or directory",
    "A computer scientist is someone who fixes things that aren't broken.",
    "After enough decimal places, nobody gives a damn.",
    "A bad random number generator: 1, 1, 1, 1, 1, 4.33e+67, 1, 1, 1",
    "A computer program does what you tell it to do, not what you want it to do.",
    "Emacs is a nice operating system, but I prefer UNIX. — Tom Christaensen",
    "Any program that runs right is obsolete.",
    "A list is only as strong as its weakest link. — Donald Knuth",
    "Feature: A bug with seniority.",
    "Computers make very fast, very accurate mistakes.",
    '<script>alert("This should not be displayed in a browser alert box.");</script>',
    "フレームワークのベンチマーク",
]


async def seed(db: asyncpg.Connection) -> None:
    await db.execute("""
        DROP TABLE IF EXISTS world, fortune;
        CREATE TABLE world (id integer PRIMARY KEY, randomnumber integer NOT NULL);
        CREATE TABLE fortune (id integer PRIMARY KEY, message varchar(2048) NOT NULL);
    """)
    await db.copy_records_to_table(
        "world", records=[(i, random.randint(1, 10000)) for i in range(1, 10001)])
    await db.copy_records_to_table("fortune", records=list(enumerate(FORTUNES, 1)))
    await db.execute("ANALYZE world; ANALYZE fortune")


async def main() -> None:
    db = await asyncpg.connect(DSN)
    try:
        if len(sys.argv) == 3 and sys.argv[1] == "--read":
            ids = [int(i) for i in sys.argv[2].split(",")]
            rows = await db.fetch("SELECT id, randomnumber FROM world WHERE id = any($1)", ids)
            print(json.dumps({r[0]: r[1] for r in rows}))
        else:
            await seed(db)
    finally:
        await db.close()


asyncio.run(main())
