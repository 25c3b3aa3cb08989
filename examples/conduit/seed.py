"""Sample data for `make demo` (`bastion db seed`): two users, three articles, a comment.

Idempotent: it does nothing when the first sample user exists, so running it twice is safe.
Both users' password is ``password123``. The admin's staff account is ``admin`` with the
password ``admin-demo-password`` (every permission; see admin.py).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bastion.admin import grant
from bastion.auth import PasswordHasher

from .admin import STAFF_PASSWORD, STAFF_USERNAME
from .models import Article, ArticleTag, Comment, Favorite, Follow, Tag, User, utcnow
from .routes.articles import slugify

PASSWORD = "password123"
ARTICLES = [
    (
        "alice",
        "Welcome to Conduit",
        "What this demo is",
        "Conduit is the RealWorld example app, served by Bastion. Try `GET /api/articles`.",
        ["bastion", "welcome"],
    ),
    (
        "bob",
        "Async Python in production",
        "Notes from running an ASGI app",
        "Keep the request path short, decide at start-up, and measure.",
        ["python", "bastion"],
    ),
    (
        "alice",
        "SQLite is enough to start",
        "Embedded first, PostgreSQL at scale",
        "Set BASTION_DATABASE_URL to a postgresql+asyncpg:// URL when one machine is not enough.",
        ["databases", "python"],
    ),
]


async def seed(db: AsyncSession) -> None:
    if not await User.exists(db, User.username == STAFF_USERNAME):
        staff = User(
            username=STAFF_USERNAME,
            email=f"{STAFF_USERNAME}@example.com",
            password_hash=await PasswordHasher().hash(STAFF_PASSWORD),
            bio="Runs the admin.",
        )
        db.add(staff)
        await db.flush()
        await grant(db, staff, "*")
    if await User.exists(db, User.username == "alice"):
        return
    password_hash = await PasswordHasher().hash(PASSWORD)
    users = {
        name: User(
            username=name,
            email=f"{name}@example.com",
            password_hash=password_hash,
            bio=f"I am {name.title()}.",
        )
        for name in ("alice", "bob")
    }
    db.add_all(users.values())
    await db.flush()
    tags: dict[str, Tag] = {}
    start = utcnow() - timedelta(days=len(ARTICLES))
    for day, (author, title, description, body, tag_names) in enumerate(ARTICLES):
        moment = start + timedelta(days=day)
        article = Article(
            slug=slugify(title),
            title=title,
            description=description,
            body=body,
            author_id=users[author].id,
            created_at=moment,
            updated_at=moment,
        )
        db.add(article)
        await db.flush()
        for name in tag_names:
            if name not in tags:
                tags[name] = Tag(name=name)
                db.add(tags[name])
                await db.flush()
            db.add(ArticleTag(article_id=article.id, tag_id=tags[name].id))
        if author == "bob":
            db.add(Favorite(user_id=users["alice"].id, article_id=article.id))
            db.add(
                Comment(
                    body="Measured and agreed.", article_id=article.id, author_id=users["alice"].id
                )
            )
    db.add(Follow(follower_id=users["alice"].id, followed_id=users["bob"].id))
