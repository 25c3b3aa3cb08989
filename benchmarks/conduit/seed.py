"""A realistic Conduit data set, written straight into the migrated tables with COPY.

Deterministic (one seeded random generator): 400 users (a third without a bio, half without an
image), 4,000 articles over two years with 0-5 tags each from 40 tags of Zipf-like popularity
(mixed case and non-ASCII names, so code-point and locale orders differ), bodies of a few KB
with quotes, backslashes, tabs, newlines, U+2028, accents, CJK and emoji, about 12,000
favourites and 8,000 follows skewed towards popular authors, and about 12,000 comments.
Timestamps carry microseconds (some .999999, to catch rounding where Conduit truncates).

Besides them, the benchmark's cast: the **reader** (follows 30 authors, has favourites; every
read is made with their token), the **showcase** article (tags, favourites, 30 comments, by
an author the reader follows) and 20 **writers** with no favourites, whose (writer, target
article) pairs the write scenarios cycle through. ``populate`` returns what the scenarios
need: tokens, slugs, names.
"""

import datetime as dt
import hashlib
import hmac
import random
import re
import unicodedata

import asyncpg
import jwt

USERS, ARTICLES, WRITERS, TARGETS = 400, 4000, 20, 25
START = dt.datetime(2025, 1, 6, 8, 0, tzinfo=dt.UTC)
TAGS = [
    "python",
    "asyncio",
    "asgi",
    "postgresql",
    "sqlalchemy",
    "Django",
    "django",
    "web",
    "performance",
    "testing",
    "devops",
    "docker",
    "kubernetes",
    "rust",
    "javascript",
    "react",
    "css",
    "html",
    "security",
    "databases",
    "caching",
    "redis",
    "api",
    "rest",
    "graphql",
    "career",
    "productivity",
    "opensource",
    "linux",
    "Machine-Learning",
    "data",
    "cloud",
    "aws",
    "écriture",
    "日本語",
    "C++",
    "go",
    "elixir",
    "typescript",
    "Zebra",
]
FIRST = [
    "ada",
    "grace",
    "alan",
    "edsger",
    "barbara",
    "donald",
    "ken",
    "dennis",
    "margaret",
    "guido",
    "linus",
    "radia",
    "frances",
    "john",
    "leslie",
    "tim",
    "sophie",
    "jean",
    "anita",
    "karen",
    "bjarne",
    "yukihiro",
    "rasmus",
    "brendan",
    "james",
    "niklaus",
    "fran",
    "hedy",
]
LAST = [
    "lovelace",
    "hopper",
    "turing",
    "dijkstra",
    "liskov",
    "knuth",
    "thompson",
    "ritchie",
    "hamilton",
    "rossum",
    "torvalds",
    "perlman",
    "allen",
    "mccarthy",
    "lamport",
    "lee",
    "wilson",
    "sammet",
    "borg",
    "jones",
    "stroustrup",
    "matsumoto",
    "lerdorf",
    "eich",
]
WORDS = (  # noqa: SIM905 (a paragraph reads better than 80 quoted words)
    "async await pool connection query index cache latency throughput request response "
    "server worker process thread event loop socket buffer schema migration model table "
    "column row transaction commit rollback lock queue job retry timeout deploy release "
    "test fixture benchmark profile trace metric log error handler route router "
    "middleware plugin token session cookie header body stream file upload template page "
    "form field value type struct encoder decoder json protocol"
).split()
SPICE = [
    '"quoted"',
    "back\\slash",
    "tab\there",
    "naïve café",
    "日本語のテキスト",
    "emoji 🚀✨",
    "line\u2028separator",
    "<script>alert(1)</script>",
    "50% & more",
    "apostrophe's",
    "Ünïcödé",
    "\u00a0nbsp",
    "control\x01char",
]


def jwt_key(secret: str) -> str:
    """The key Bastion's JWTAuth derives from ``settings.secret_key``."""
    return hmac.new(secret.encode(), b"bastion.auth.jwt", hashlib.sha256).hexdigest()


def token_for(user_id: int, secret: str) -> str:
    """A token as Conduit issues it (``Credentials.token_for``): sub, iat, exp in 30 days."""
    now = dt.datetime.now(dt.UTC)
    claims = {"iat": now, "exp": now + dt.timedelta(days=30), "sub": str(user_id)}
    return jwt.encode(claims, jwt_key(secret), algorithm="HS256")


def slugify(title: str) -> str:
    """As examples/conduit/routes/articles.py makes slugs."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")[:200].rstrip("-")


def moment(rng: random.Random, days: float) -> dt.datetime:
    """A time in the first ``days`` days after START, with microseconds (1 in 40 at .999999)."""
    at = START + dt.timedelta(seconds=rng.uniform(0, days * 86400))
    return at.replace(microsecond=999999 if rng.random() < 0.025 else rng.randrange(10**6))


def sentence(rng: random.Random, low: int, high: int, spice: float = 0.0) -> str:
    words = rng.choices(WORDS, k=rng.randint(low, high))
    if rng.random() < spice:
        words.insert(rng.randrange(len(words)), rng.choice(SPICE))
    return " ".join(words).capitalize() + "."


def build(rng: random.Random) -> dict[str, list[tuple]]:
    """Every table's rows, ids from 1."""
    users, names = [], set()
    for uid in range(1, USERS + WRITERS + 1):
        if uid > USERS:
            name = f"writer{uid - USERS:02d}"
        elif uid == 7:
            name = "zoë"  # a non-ASCII username, percent-encoded in URLs
        else:
            name = f"{rng.choice(FIRST)}.{rng.choice(LAST)}"
            while name in names:
                name = f"{name.split('-')[0]}-{rng.randrange(1000)}"
        names.add(name)
        bio = None if rng.random() < 0.33 else sentence(rng, 4, 20, spice=0.3)
        image = None if rng.random() < 0.5 else f"https://cdn.example.com/avatars/{uid}.jpeg"
        created = moment(rng, 60)
        users.append(
            (
                uid,
                f"{name}@example.com",
                name,
                "$argon2id$v=19$m=65536,t=3,p=4$unused",
                bio,
                image,
                created,
                created,
            )
        )
    # Authors by a Zipf-like weight: a few write a lot.
    weights = [1 / (rank + 1) ** 0.8 for rank in range(USERS)]
    articles, slugs = [], set()
    for aid in range(1, ARTICLES + 1):
        author = rng.choices(range(1, USERS + 1), weights)[0]
        title = " ".join(rng.choices(WORDS, k=rng.randint(3, 7))).title() + f" {aid}"
        if rng.random() < 0.05:
            title += " " + rng.choice(SPICE)
        slug = slugify(title)
        assert slug not in slugs
        slugs.add(slug)
        paragraphs = [sentence(rng, 30, 80, spice=0.5) for _ in range(rng.randint(2, 7))]
        created = moment(rng, 730)
        updated = (
            created
            if rng.random() < 0.7
            else created
            + dt.timedelta(seconds=rng.uniform(1, 86400 * 30), microseconds=rng.randrange(10**6))
        )
        articles.append(
            (
                aid,
                slug,
                title,
                sentence(rng, 6, 18, spice=0.2),
                "\n\n".join(paragraphs),
                author,
                created,
                updated,
            )
        )
    tags = [(tid, name) for tid, name in enumerate(TAGS, 1)]
    tag_weights = [1 / (rank + 1) for rank in range(len(TAGS))]
    article_tags = []
    for aid in range(1, ARTICLES + 1):
        chosen = set(rng.choices(range(1, len(TAGS) + 1), tag_weights, k=rng.randint(0, 5)))
        article_tags += [(aid, tid) for tid in sorted(chosen)]
    popularity = [1 / (rank + 1) ** 0.6 for rank in range(ARTICLES)]
    favorites = set()
    for uid in range(1, USERS + 1):
        for aid in rng.choices(range(1, ARTICLES + 1), popularity, k=int(rng.expovariate(1 / 30))):
            favorites.add((uid, aid))
    follows = set()
    for uid in range(1, USERS + 1):
        for other in rng.choices(range(1, USERS + 1), weights, k=int(rng.expovariate(1 / 20))):
            if other != uid:
                follows.add((uid, other))
    comments = []
    for aid, *_, created, _updated in articles:
        for _ in range(min(int(rng.expovariate(1 / 3)), 20)):
            at = created + dt.timedelta(seconds=rng.uniform(60, 86400 * 20))
            comments.append((rng.randint(1, USERS), aid, sentence(rng, 3, 40, spice=0.3), at))
    return {
        "users": users,
        "articles": articles,
        "tags": tags,
        "article_tags": article_tags,
        "favorites": sorted(favorites),
        "follows": sorted(follows),
        "comments": comments,
    }


def cast(rng: random.Random, data: dict[str, list[tuple]]) -> dict:
    """Chooses the reader, the showcase article and the write targets, and adjusts the rows so
    each plays its part (the reader follows 30 authors; the showcase has 30 comments, several
    tags, favourites, and an author the reader follows)."""
    articles, users = data["articles"], data["users"]
    by_author: dict[int, list[int]] = {}
    for aid, _slug, _t, _d, _b, author, *_ in articles:
        by_author.setdefault(author, []).append(aid)
    reader = 3
    prolific = sorted(by_author, key=lambda u: -len(by_author[u]))
    followed = [u for u in prolific if u != reader][:30]
    data["follows"] = sorted(
        {f for f in data["follows"] if f[0] != reader} | {(reader, u) for u in followed}
    )
    tagged = {}
    for aid, tid in data["article_tags"]:
        tagged.setdefault(aid, []).append(tid)
    showcase = next(aid for aid in by_author[followed[1]] if len(tagged.get(aid, [])) >= 3)
    data["favorites"] = sorted(set(data["favorites"]) | {(reader, showcase), (12, showcase)})
    data["comments"] = [c for c in data["comments"] if c[1] != showcase]
    created = articles[showcase - 1][6]
    for n in range(30):
        author = followed[n % 5] if n % 3 == 0 else rng.randint(1, USERS)
        data["comments"].append(
            (
                author,
                showcase,
                sentence(rng, 5, 40, spice=0.4),
                created + dt.timedelta(hours=n, microseconds=rng.randrange(10**6)),
            )
        )
    # Write targets: older articles by ordinary authors; writers start with no favourites.
    targets = [a for a in range(100, ARTICLES, ARTICLES // TARGETS) if a != showcase][:TARGETS]
    writers = list(range(USERS + 1, USERS + WRITERS + 1))
    fans: dict[int, int] = {}
    for uid, _aid in data["favorites"]:
        fans[uid] = fans.get(uid, 0) + 1
    tag_uses: dict[int, int] = {}
    for _aid, tid in data["article_tags"]:
        tag_uses[tid] = tag_uses.get(tid, 0) + 1
    name = {u[0]: u[2] for u in users}
    commented = {c[1] for c in data["comments"]}
    return {
        "reader": reader,
        "showcase": articles[showcase - 1][1],
        "commentless": next(a[1] for a in articles if a[0] not in commented),
        "profile": name[followed[1]],
        "author": name[prolific[0]],
        "favorited": name[max(fans, key=fans.get)],
        "tag": TAGS[sorted(tag_uses, key=lambda t: -tag_uses[t])[2] - 1],
        "pairs": [(w, articles[t - 1][1]) for t in targets for w in writers],
        "writer": writers[0],
    }


async def populate(dsn: str, secret: str) -> dict:
    """Fills Conduit's migrated (empty) tables; returns the cast with tokens instead of ids."""
    rng = random.Random(22)
    data = build(rng)
    chosen = cast(rng, data)
    db = await asyncpg.connect(dsn)
    try:
        columns = {
            "users": (
                "id",
                "email",
                "username",
                "password_hash",
                "bio",
                "image",
                "created_at",
                "updated_at",
            ),
            "articles": (
                "id",
                "slug",
                "title",
                "description",
                "body",
                "author_id",
                "created_at",
                "updated_at",
            ),
            "tags": ("id", "name"),
            "article_tags": ("article_id", "tag_id"),
            "favorites": ("user_id", "article_id"),
            "follows": ("follower_id", "followed_id"),
        }
        async with db.transaction():
            for table, names in columns.items():
                await db.copy_records_to_table(table, records=data[table], columns=names)
            comments = [
                (i, body, aid, uid, at, at)
                for i, (uid, aid, body, at) in enumerate(data["comments"], 1)
            ]
            await db.copy_records_to_table(
                "comments",
                records=comments,
                columns=("id", "body", "article_id", "author_id", "created_at", "updated_at"),
            )
            for table in ("users", "articles", "tags", "comments"):
                await db.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"
                )
        await db.execute("VACUUM ANALYZE")  # as autovacuum would: index-only counts
    finally:
        await db.close()
    sizes = {table: len(rows) for table, rows in data.items()}
    tokens: dict[int, str] = {}

    def token(uid: int) -> str:
        if uid not in tokens:
            tokens[uid] = token_for(uid, secret)
        return tokens[uid]

    return {
        **{k: v for k, v in chosen.items() if k not in ("reader", "pairs", "writer")},
        "reader_token": token(chosen["reader"]),
        "writer_token": token(chosen["writer"]),
        "pairs": [(token(uid), slug) for uid, slug in chosen["pairs"]],
        "writers": sorted({uid for uid, _slug in chosen["pairs"]}),
        "sizes": sizes,
    }
