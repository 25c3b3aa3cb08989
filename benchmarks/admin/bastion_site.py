"""Bastion's admin on the benchmark's tables (created by Django's migrate), as its docs teach:
the models mapped, registered like Django's ``ArticleAdmin`` (the same columns, search,
filters, ordering and page size), the auth battery's ``User`` as staff. Needs BENCH_PG_DSN."""

import os
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bastion import App, Settings
from bastion.admin import Admin
from bastion.auth.models import User
from bastion.db import Model, SQLAlchemyPlugin

DSN = os.environ.get("BENCH_PG_DSN", "postgresql://bastion@127.0.0.1:5432/bench")
PAGE = 100  # Django's list_per_page default


class Author(Model):
    __tablename__ = "catalog_author"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(254), unique=True)

    def __str__(self) -> str:
        return self.name


class Article(Model):
    __tablename__ = "catalog_article"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    title: Mapped[str] = mapped_column(String(200), index=True)
    slug: Mapped[str] = mapped_column(String(200), unique=True)
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20))
    featured: Mapped[bool]
    views: Mapped[int]
    created_at: Mapped[datetime]
    author_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("catalog_author.id"))
    author: Mapped[Author] = relationship()

    def __str__(self) -> str:
        return self.title


admin = Admin(user_model=User)
admin.register(
    Article,
    list_display=["title", "author", "status", "featured", "views", "created_at"],
    filters=["status", "featured", "created_at"],
    search=["title", "slug"],
    ordering=["-created_at"],
    per_page=PAGE,
)
admin.register(Author, list_display=["name", "email"], search=["name", "email"])

app = App(
    settings=Settings(profile="prod", debug=False, secret_key="bench-" + "x" * 40),
    plugins=[SQLAlchemyPlugin(DSN.replace("postgresql://", "postgresql+asyncpg://", 1)), admin],
)


@app.get("/plaintext")
async def plaintext() -> str:  # what the harness polls until the server is up
    return "Hello, World!"
