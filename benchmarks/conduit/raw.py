"""The ceiling: Conduit's read endpoints, its comment and its favourite writes as a hand-written
ASGI callable on an asyncpg pool, no framework, no ORM, one SQL statement per request where
SQL allows. Answers are byte-identical to examples/conduit's for the same request (the runner
checks), so the JSON is encoded by msgspec, as Bastion does, from dicts in the schemas' key
order, and timestamps are ISO 8601 in UTC with milliseconds, truncated, and a Z.

What it keeps of Conduit's semantics: ``Authorization: Token <jwt>`` verified with the same
key (derived from ``BASTION_SECRET_KEY`` as ``JWTAuth`` does); a token naming a user that no
longer exists reads as anonymous where the reader is optional (no favourite, no follow match
such an id, so no lookup is needed) and is a 401 where a reader is required; the spec's error
shapes for 401, 404 and invalid limits; a comment on someone else's article stores the
author's notification in the same statement. What it leaves out: Conduit's response cache,
the live push of that notification (nobody subscribes during the benchmark), request-body
rules beyond "a non-blank comment body".

Environment: ``DATABASE_URL`` (postgresql://), ``BASTION_SECRET_KEY``, and
``CONDUIT_RAW_POOL_SIZE`` (the runner passes Bastion's default pool size).
"""

import hashlib
import hmac
import os
import time
import uuid
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import parse_qsl

import asyncpg
import jwt
import msgspec

DSN = os.environ["DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://", 1)
SECRET = os.environ["BASTION_SECRET_KEY"].encode()
KEY = hmac.new(SECRET, b"bastion.auth.jwt", hashlib.sha256).hexdigest()  # as JWTAuth derives it
POOL_SIZE = int(os.environ.get("CONDUIT_RAW_POOL_SIZE", "10"))
pool: asyncpg.Pool | None = None

JSON = (b"content-type", b"application/json")
encode = msgspec.json.encode

# The blank rule of examples/conduit/schemas.py (every character either regex dialect calls space).
NOT_BLANK = r"[^\x09-\x0d\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]"


class NewComment(msgspec.Struct):
    body: Annotated[str, msgspec.Meta(min_length=1, pattern=NOT_BLANK)]


class NewCommentRequest(msgspec.Struct):
    comment: NewComment


decode_comment = msgspec.json.Decoder(NewCommentRequest).decode

# -- SQL ----------------------------------------------------------------------------------
# $1 is always the reader's id (NULL when anonymous: it matches no favourite and no follow).
# Tags sort by code point (COLLATE "C" on UTF-8), as Conduit's Python sorted() does.
TAGS_OF = """ARRAY(SELECT t.name FROM article_tags at JOIN tags t ON t.id = at.tag_id
                WHERE at.article_id = a.id ORDER BY t.name COLLATE "C")"""
COUNT_OF = "(SELECT count(*) FROM favorites f WHERE f.article_id = a.id)"
FOLLOWING = "EXISTS(SELECT 1 FROM follows fo WHERE fo.followed_id = {} AND fo.follower_id = $1)"
SUMMARY = f"""a.slug, a.title, a.description, {TAGS_OF}, a.created_at, a.updated_at,
    EXISTS(SELECT 1 FROM favorites f WHERE f.article_id = a.id AND f.user_id = $1), {COUNT_OF},
    u.username, u.bio, u.image, {FOLLOWING.format("a.author_id")}"""
VIEWER_EXISTS = "EXISTS(SELECT 1 FROM users WHERE id = $1)"
FILTERS = {  # ?tag=, ?author=, ?favorited= and the feed; {} is the filter's own parameter
    "tag": "a.id IN (SELECT at.article_id FROM article_tags at JOIN tags t ON t.id = at.tag_id"
    " WHERE t.name = {})",
    "author": "a.author_id IN (SELECT id FROM users WHERE username = {})",
    "favorited": "a.id IN (SELECT f.article_id FROM favorites f JOIN users fu ON fu.id = f.user_id"
    " WHERE fu.username = {})",
    "feed": "a.author_id IN (SELECT followed_id FROM follows WHERE follower_id = $1)",
}
ARTICLE = f"""SELECT {SUMMARY}, a.body FROM articles a JOIN users u ON u.id = a.author_id
    WHERE a.slug = $2"""
COMMENTS = f"""SELECT c.id, c.created_at, c.updated_at, c.body, u.username, u.bio, u.image,
    {FOLLOWING.format("c.author_id")}
    FROM articles a LEFT JOIN comments c ON c.article_id = a.id
    LEFT JOIN users u ON u.id = c.author_id
    WHERE a.slug = $2 ORDER BY c.created_at DESC, c.id DESC"""
PROFILE = f"""SELECT u.username, u.bio, u.image, {FOLLOWING.format("u.id")}
    FROM users u WHERE u.username = $2"""
TAGS = """SELECT t.name FROM tags t JOIN article_tags at ON at.tag_id = t.id
    GROUP BY t.id, t.name ORDER BY count(at.article_id) DESC, t.name"""
# The comment, the author's notification (unless they comment on their own article) and the
# answer, in one statement; sub-statements share one snapshot, so the answer comes from the
# INSERT's RETURNING. $3 body, $4 timestamp, $5 notification id, $6 epoch seconds.
ADD_COMMENT = """WITH v AS (SELECT id, username, bio, image FROM users WHERE id = $1),
    a AS (SELECT id, author_id, slug, title FROM articles WHERE slug = $2),
    c AS (INSERT INTO comments (body, article_id, author_id, created_at, updated_at)
          SELECT $3, a.id, v.id, $4, $4 FROM a, v
          RETURNING id, created_at, updated_at, body),
    n AS (INSERT INTO bastion_notifications (id, notifiable, type, data, created_at, read_at)
          SELECT $5, a.author_id::text, 'article_commented',
                 json_build_object('article', json_build_object('slug', a.slug, 'title', a.title),
                                   'comment', json_build_object('id', c.id, 'body', c.body),
                                   'author', v.username)::text, $6, NULL
          FROM a, c, v WHERE a.author_id <> v.id)
    SELECT c.id, c.created_at, c.updated_at, c.body, v.username, v.bio, v.image,
           EXISTS(SELECT 1 FROM follows WHERE follower_id = $1 AND followed_id = $1),
           EXISTS(SELECT 1 FROM a)
    FROM v LEFT JOIN c ON true"""
# Favourite / unfavourite and answer the article, in one statement: the count read in the
# statement's snapshot does not see its own change, so the change's row count is added.
FAVORITE_TARGET = f"""v AS (SELECT id FROM users WHERE id = $1),
    target AS (SELECT a.id, a.slug, a.title, a.description, {TAGS_OF} AS tags, a.created_at,
               a.updated_at, {COUNT_OF} AS favorites, u.username, u.bio, u.image,
               {FOLLOWING.format("a.author_id")} AS following, a.body
               FROM articles a JOIN users u ON u.id = a.author_id WHERE a.slug = $2)"""
FAVORITE_ANSWER = """SELECT EXISTS(SELECT 1 FROM v), (SELECT count(*) FROM changed), target.slug,
    target.title, target.description, target.tags, target.created_at, target.updated_at,
    target.favorites, target.username, target.bio, target.image, target.following, target.body
    FROM (SELECT 1) one LEFT JOIN target ON true"""
FAVORITE = f"""WITH {FAVORITE_TARGET},
    changed AS (INSERT INTO favorites (user_id, article_id) SELECT v.id, target.id FROM v, target
                ON CONFLICT DO NOTHING RETURNING 1)
    {FAVORITE_ANSWER}"""
UNFAVORITE = f"""WITH {FAVORITE_TARGET},
    changed AS (DELETE FROM favorites WHERE user_id = (SELECT id FROM v)
                AND article_id = (SELECT id FROM target) RETURNING 1)
    {FAVORITE_ANSWER}"""

_lists: dict[tuple[str, ...], tuple[str, str]] = {}


def list_sql(filters: tuple[str, ...]) -> tuple[str, str]:
    """The page (with the total and, for the feed, whether the reader exists, on every row)
    and the fallback for an empty page, for one combination of filters."""
    if filters not in _lists:
        numbers = iter(range(4, 8))
        where = " AND ".join(FILTERS[name].format(f"${next(numbers)}") for name in filters)
        where = where or "TRUE"
        extra = VIEWER_EXISTS if "feed" in filters else "TRUE"
        total = f"(SELECT count(*) FROM articles a WHERE {where})"
        page = f"""SELECT {SUMMARY}, {total}, {extra}
            FROM articles a JOIN users u ON u.id = a.author_id WHERE {where}
            ORDER BY a.created_at DESC, a.id DESC LIMIT $2 OFFSET $3"""
        # Same parameters as the page, so limit and offset are referenced (and typed) too.
        empty = f"SELECT {total}, {extra}, $1::integer, $2::bigint, $3::bigint"
        _lists[filters] = page, empty
    return _lists[filters]


# -- rendering ----------------------------------------------------------------------------
def ts(moment: datetime) -> str:
    """asyncpg gives timestamptz in UTC: 2026-11-23T10:00:00.123+00:00 → ...00.123Z."""
    return moment.isoformat(timespec="milliseconds")[:-6] + "Z"


def summary(r: asyncpg.Record) -> dict:
    return {
        "slug": r[0],
        "title": r[1],
        "description": r[2],
        "tagList": r[3],
        "createdAt": ts(r[4]),
        "updatedAt": ts(r[5]),
        "favorited": r[6],
        "favoritesCount": r[7],
        "author": {"username": r[8], "bio": r[9], "image": r[10], "following": r[11]},
    }


def comment(r: asyncpg.Record) -> dict:
    return {
        "id": r[0],
        "createdAt": ts(r[1]),
        "updatedAt": ts(r[2]),
        "body": r[3],
        "author": {"username": r[4], "bio": r[5], "image": r[6], "following": r[7]},
    }


class Answer(Exception):
    """An error answer in the spec's shape, ``{"errors": {field: [message]}}``."""

    def __init__(self, status: int, field: str, message: str, headers: tuple = ()) -> None:
        self.status, self.headers = status, list(headers)
        self.body = encode({"errors": {field: [message]}})


def unauthorized() -> Answer:
    return Answer(401, "token", "is missing", [(b"www-authenticate", b"Token")])


INVALID = object()  # a token was sent and is not valid: 401 even where a reader is optional


def reader(scope: dict, required: bool) -> int | None:
    """The reader's user id from ``Authorization: Token <jwt>``, None when anonymous."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            word, _, token = value.decode("latin-1").strip().partition(" ")
            found = _verified(token.strip()) if word.lower() == "token" else None
            break
    else:
        found = None
    if found is INVALID or (found is None and required):
        raise unauthorized()
    return found


def _verified(token: str) -> object:
    if len(token) > 8192:
        return INVALID
    try:
        decoded = jwt.decode_complete(
            token, KEY, algorithms=["HS256"], leeway=30, options={"require": ["exp", "sub"]}
        )
    except (jwt.PyJWTError, ValueError, UnicodeError):
        return INVALID
    sub = decoded["payload"].get("sub")
    if "kid" in decoded["header"] or not isinstance(sub, str):
        return INVALID
    if not sub.isdigit() or len(sub) > 18 or int(sub) > 2**31 - 1:
        return None  # names no user Conduit could load: anonymous
    return int(sub)


def page_bounds(query: dict) -> tuple[int, int]:
    bounds = {"limit": (20, 1000), "offset": (0, 2**31 - 1)}
    values = []
    for name, (default, highest) in bounds.items():
        raw = query.get(name)
        try:
            value = default if raw is None else int(raw)
        except ValueError:
            raise Answer(422, name, "is invalid") from None
        if not 0 <= value <= highest:
            raise Answer(422, name, "is invalid")
        values.append(value)
    return values[0], values[1]


# -- endpoints ----------------------------------------------------------------------------
async def articles(scope: dict, feed: bool = False) -> tuple[int, bytes]:
    query = dict(parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True))
    viewer = reader(scope, required=feed)
    limit, offset = page_bounds(query)
    names = ("feed",) if feed else tuple(n for n in ("tag", "author", "favorited") if n in query)
    page, empty = list_sql(names)
    args = (viewer, limit, offset, *(query[n] for n in names if n != "feed"))
    async with pool.acquire() as db:
        rows = await db.fetch(page, *args)
        if not rows:
            rows = [[None] * 12 + list((await db.fetchrow(empty, *args))[:2])]
            found = []
        else:
            found = rows
    if not rows[0][13]:
        raise unauthorized()
    return 200, encode({"articles": [summary(r) for r in found], "articlesCount": rows[0][12]})


async def feed(scope: dict) -> tuple[int, bytes]:
    return await articles(scope, feed=True)


async def article(scope: dict, slug: str) -> tuple[int, bytes]:
    viewer = reader(scope, required=False)
    async with pool.acquire() as db:
        r = await db.fetchrow(ARTICLE, viewer, slug)
    if r is None:
        raise Answer(404, "article", "not found")
    out = summary(r)
    out["body"] = r[12]
    return 200, encode({"article": out})


async def comments(scope: dict, slug: str) -> tuple[int, bytes]:
    viewer = reader(scope, required=False)
    async with pool.acquire() as db:
        rows = await db.fetch(COMMENTS, viewer, slug)
    if not rows:
        raise Answer(404, "article", "not found")
    return 200, encode({"comments": [comment(r) for r in rows if r[0] is not None]})


async def profile(scope: dict, username: str) -> tuple[int, bytes]:
    viewer = reader(scope, required=False)
    async with pool.acquire() as db:
        r = await db.fetchrow(PROFILE, viewer, username)
    if r is None:
        raise Answer(404, "profile", "not found")
    return 200, encode(
        {"profile": {"username": r[0], "bio": r[1], "image": r[2], "following": r[3]}}
    )


async def tags(scope: dict) -> tuple[int, bytes]:
    async with pool.acquire() as db:
        rows = await db.fetch(TAGS)
    return 200, encode({"tags": [r[0] for r in rows]})


async def add_comment(scope: dict, slug: str, body: bytes) -> tuple[int, bytes]:
    viewer = reader(scope, required=True)
    try:
        text = decode_comment(body).comment.body
    except msgspec.ValidationError:
        raise Answer(422, "body", "can't be blank") from None
    except msgspec.DecodeError:
        raise Answer(422, "body", "is invalid") from None
    now = time.time()
    async with pool.acquire() as db:
        r = await db.fetchrow(
            ADD_COMMENT, viewer, slug, text, datetime.fromtimestamp(now, UTC), uuid.uuid4().hex, now
        )
    if r is None:
        raise unauthorized()
    if not r[8]:
        raise Answer(404, "article", "not found")
    return 200, encode({"comment": comment(r)})


async def favorite(scope: dict, slug: str, add: bool) -> tuple[int, bytes]:
    viewer = reader(scope, required=True)
    async with pool.acquire() as db:
        r = await db.fetchrow(FAVORITE if add else UNFAVORITE, viewer, slug)
    if not r[0]:
        raise unauthorized()
    if r[2] is None:
        raise Answer(404, "article", "not found")
    count = r[8] + r[1] if add else r[8] - r[1]
    return 200, encode(
        {
            "article": {
                "slug": r[2],
                "title": r[3],
                "description": r[4],
                "tagList": r[5],
                "createdAt": ts(r[6]),
                "updatedAt": ts(r[7]),
                "favorited": add,
                "favoritesCount": count,
                "author": {"username": r[9], "bio": r[10], "image": r[11], "following": r[12]},
                "body": r[13],
            }
        }
    )


async def route(scope: dict, receive) -> tuple[int, bytes]:
    method, parts = scope["method"], scope["path"].strip("/").split("/")
    if parts[0] != "api" or len(parts) < 2:
        raise Answer(404, "body", "not found")
    resource, rest = parts[1], parts[2:]
    if method == "GET":
        if resource == "articles":
            if not rest:
                return await articles(scope)
            if rest == ["feed"]:
                return await feed(scope)
            if len(rest) == 1:
                return await article(scope, rest[0])
            if len(rest) == 2 and rest[1] == "comments":
                return await comments(scope, rest[0])
        elif resource == "profiles" and len(rest) == 1:
            return await profile(scope, rest[0])
        elif resource == "tags" and not rest:
            return await tags(scope)
    elif resource == "articles" and len(rest) == 2:
        if method == "POST" and rest[1] == "comments":
            return await add_comment(scope, rest[0], await read_body(receive))
        if method in ("POST", "DELETE") and rest[1] == "favorite":
            return await favorite(scope, rest[0], add=method == "POST")
    raise Answer(404, "body", "not found")


async def read_body(receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def lifespan(receive, send) -> None:
    global pool
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            pool = await asyncpg.create_pool(DSN, min_size=POOL_SIZE, max_size=POOL_SIZE)
            await send({"type": "lifespan.startup.complete"})
        else:
            await pool.close()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope, receive, send) -> None:
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
        return
    headers = []
    try:
        status, body = await route(scope, receive)
    except Answer as answer:
        status, body, headers = answer.status, answer.body, answer.headers
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [JSON, (b"content-length", str(len(body)).encode()), *headers],
        }
    )
    await send({"type": "http.response.body", "body": body})
