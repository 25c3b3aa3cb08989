"""model_form: fields from SQLAlchemy columns, foreign keys as selects and many-to-many as
multi-selects loaded from the database, saved back to rows (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime
import decimal
import enum
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, selectinload

from bastion.exceptions import ConfigurationError
from bastion.forms import (
    BooleanField,
    ChoiceField,
    DateField,
    DateTimeField,
    DecimalField,
    FloatField,
    IntegerField,
    JSONField,
    ModelChoiceField,
    ModelForm,
    ModelMultipleChoiceField,
    StringField,
    TextField,
    TimeField,
    UUIDField,
    model_form,
)


class Base(DeclarativeBase):
    pass


class Status(enum.Enum):
    DRAFT = "draft"
    PUBLISHED = "published"


article_tags = sa.Table(
    "forms_article_tags",
    Base.metadata,
    sa.Column(
        "article_id", sa.ForeignKey("forms_articles.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("tag_id", sa.ForeignKey("forms_tags.id", ondelete="CASCADE"), primary_key=True),
)


class Author(Base):
    __tablename__ = "forms_authors"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(40))

    def __str__(self) -> str:
        return self.name


class Tag(Base):
    __tablename__ = "forms_tags"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(20))

    def __str__(self) -> str:
        return self.name


class Article(Base):
    __tablename__ = "forms_articles"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(80), info={"label": "Headline"})
    slug: Mapped[str | None] = mapped_column(sa.String(40), unique=True)
    body: Mapped[str | None] = mapped_column(sa.Text)
    status: Mapped[Status] = mapped_column(sa.Enum(Status, name="forms_status"))
    published_on: Mapped[datetime.date | None]
    created_at: Mapped[datetime.datetime] = mapped_column(
        sa.DateTime(timezone=True), default=lambda: datetime.datetime.now(datetime.UTC)
    )
    reminder: Mapped[datetime.time | None]
    price: Mapped[decimal.Decimal | None] = mapped_column(sa.Numeric(8, 2))
    rating: Mapped[float | None]
    views: Mapped[int] = mapped_column(sa.SmallInteger, default=0)
    featured: Mapped[bool] = mapped_column(default=False)
    meta: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    code: Mapped[uuid.UUID | None]
    secret: Mapped[str | None] = mapped_column(sa.String(10), info={"bastion.read_only": True})
    author_id: Mapped[int] = mapped_column(sa.ForeignKey("forms_authors.id"))
    author: Mapped[Author] = relationship()
    tags: Mapped[list[Tag]] = relationship(secondary=article_tags)


ArticleForm = model_form(Article)


@pytest.fixture
async def session(database_url: str) -> AsyncIterator[AsyncSession]:
    engine = create_async_engine(database_url)
    async with engine.begin() as connection:
        await connection.run_sync(Base.metadata.drop_all)
        await connection.run_sync(Base.metadata.create_all)
    maker = async_sessionmaker(engine, expire_on_commit=False)
    async with maker() as session:
        session.add_all([Author(id=1, name="Ann"), Author(id=2, name="Bob")])
        session.add_all([Tag(id=1, name="python"), Tag(id=2, name="web"), Tag(id=3, name="sql")])
        await session.commit()
        yield session
    async with engine.begin() as connection:
        await connection.run_sync(Base.metadata.drop_all)
    await engine.dispose()


def test_every_column_gets_the_field_its_type_calls_for():
    kinds = {name: type(field) for name, field in ArticleForm.declared.items()}
    assert kinds == {
        "title": StringField,
        "slug": StringField,
        "body": TextField,
        "status": ChoiceField,
        "published_on": DateField,
        "created_at": DateTimeField,
        "reminder": TimeField,
        "price": DecimalField,
        "rating": FloatField,
        "views": IntegerField,
        "featured": BooleanField,
        "meta": JSONField,
        "code": UUIDField,
        "author_id": ModelChoiceField,
        "tags": ModelMultipleChoiceField,
    }  # no autoincrement id, no read-only column, in declaration order
    fields = ArticleForm.declared
    assert fields["title"].attrs["maxlength"] == 80 and fields["title"].label == "Headline"
    assert fields["title"].required and not fields["body"].required
    assert not fields["created_at"].required  # it has a default
    assert fields["created_at"].timezone is datetime.UTC  # type: ignore[attr-defined]
    assert fields["views"].attrs == {"min": "-32768", "max": "32767"}
    assert fields["price"].attrs["step"] == "0.01"
    assert fields["author_id"].label == "Author"


def test_fields_exclude_labels_and_overrides_choose_the_form():
    form = model_form(
        Article,
        fields=["author_id", "title", "tags"],
        exclude=["tags"],
        labels={"title": "Title"},
        overrides={"title": TextField(max_length=80)},
        name="Short",
    )
    assert form.__name__ == "Short" and issubclass(form, ModelForm)
    assert list(form.declared) == ["author_id", "title"]
    assert isinstance(form.declared["title"], TextField)
    assert form.declared["title"].label == "Title"


def test_unknown_column_names_fail_at_start_up_with_the_choices():
    with pytest.raises(
        ConfigurationError, match="no editable column .* named 'titel'; choose among title"
    ):
        model_form(Article, fields=["titel"])


async def test_blank_form_loads_foreign_key_and_many_to_many_choices(session):
    form = await ArticleForm.blank(session=session)
    assert form["author_id"].choices == [("1", "Ann", False), ("2", "Bob", False)]
    assert form["tags"].choices == [
        ("1", "python", False),
        ("2", "web", False),
        ("3", "sql", False),
    ]
    assert form["status"].choices == [("draft", "Draft", False), ("published", "Published", False)]
    assert form["tags"].multiple and form["tags"].widget == "select"


async def test_choices_need_a_session_and_say_where_to_pass_it():
    with pytest.raises(ConfigurationError, match=r"pass session= to ArticleForm.blank\(\)"):
        await ArticleForm.blank()


async def test_valid_submission_saves_a_new_row_with_its_tags(session):
    form = ArticleForm(
        {
            "title": "Forms",
            "status": "published",
            "published_on": "2024-03-01",
            "created_at": "2024-03-01T10:00",
            "reminder": "08:30",
            "price": "9.99",
            "rating": "4.5",
            "featured": "on",
            "meta": '{"pinned": true}',
            "code": "12345678-1234-5678-1234-567812345678",
            "author_id": "2",
            "tags": ["3", "1"],
        }
    )
    assert await form.validate(session)
    article = await form.save(session)
    await session.commit()
    session.expunge_all()
    saved = (await session.scalars(sa.select(Article).options(selectinload(Article.tags)))).one()
    assert (saved.title, saved.status, saved.author_id) == ("Forms", Status.PUBLISHED, 2)
    assert saved.published_on == datetime.date(2024, 3, 1)
    assert saved.created_at.replace(tzinfo=datetime.UTC) == datetime.datetime(
        2024, 3, 1, 10, tzinfo=datetime.UTC
    )
    assert saved.reminder == datetime.time(8, 30) and saved.price == decimal.Decimal("9.99")
    assert saved.rating == 4.5 and saved.featured is True and saved.meta == {"pinned": True}
    assert saved.code == uuid.UUID("12345678-1234-5678-1234-567812345678")
    assert sorted(t.name for t in saved.tags) == ["python", "sql"]
    assert saved.views == 0 and article.id == saved.id  # the column default applied


async def test_every_error_at_once_including_unknown_foreign_keys(session):
    form = ArticleForm(
        {
            "title": "x" * 81,
            "status": "archived",
            "views": "40000",
            "price": "123456789",
            "meta": "{oops",
            "author_id": "99",
            "tags": ["1", "42"],
        }
    )
    assert not await form.validate(session)
    assert form.status_code == 422
    assert form.errors == {
        "title": ["Enter at most 80 characters."],
        "status": ["Choose one of the options offered."],
        "views": ["Enter a value less than or equal to 32767."],
        "price": ["Enter at most 6 digits before the decimal point."],
        "meta": ["Enter valid JSON."],
        "author_id": ["Choose one of the options offered."],
        "tags": ["Choose among the options offered (42 is not one)."],
    }


async def test_editing_shows_the_rows_values_and_saves_changes(session):
    article = Article(title="Old", status=Status.DRAFT, author_id=1, meta={"a": 1})
    article.tags = [await session.get(Tag, 2)]  # type: ignore[list-item]
    session.add(article)
    await session.commit()
    session.expunge_all()
    article = await session.get(Article, article.id)  # tags not loaded: the form loads them
    assert article is not None

    shown = await ArticleForm.blank(session=session, instance=article)
    assert shown["title"].value == "Old"
    assert shown["status"].value == "draft"
    assert shown["author_id"].choices[0] == ("1", "Ann", True)
    assert [c for c in shown["tags"].choices if c[2]] == [("2", "web", True)]
    assert shown["meta"].value == '{\n  "a": 1\n}'
    assert not shown["featured"].checked

    edited = ArticleForm(
        {"title": "New", "status": "draft", "author_id": "2", "tags": ["1", "3"], "featured": "on"},
        instance=article,
    )
    assert await edited.validate(session), edited.errors
    await edited.save(session)
    await session.commit()
    session.expunge_all()
    saved = (await session.scalars(sa.select(Article).options(selectinload(Article.tags)))).one()
    assert (saved.title, saved.author_id, saved.featured) == ("New", 2, True)
    assert sorted(t.name for t in saved.tags) == ["python", "sql"]


async def test_save_refuses_an_invalid_form(session):
    form = ArticleForm({"title": ""})
    await form.validate(session)
    with pytest.raises(ConfigurationError, match="not valid"):
        await form.save(session)


async def test_foreign_key_choices_can_be_a_query_and_rows_checked_against_it(session):
    only_ann = model_form(
        Article,
        fields=["title", "status", "author_id"],
        overrides={
            "author_id": ModelChoiceField(
                Author, "Author", query=sa.select(Author).where(Author.name == "Ann")
            )
        },
    )
    form = only_ann({"title": "t", "status": "draft", "author_id": "2"})
    assert not await form.validate(session)
    assert form.errors == {"author_id": ["Choose one of the options offered."]}


async def test_generated_choice_fields_take_a_label_and_a_query_after_the_fact(session):
    form_class = model_form(Article, fields=["author_id", "tags"])
    for field in form_class.declared.values():
        field.label_of = lambda row: f"#{row.id} {row.name}"  # type: ignore[attr-defined]
    form_class.declared["tags"].query = sa.select(Tag).where(Tag.name != "web")  # type: ignore[attr-defined]
    form = await form_class.blank(session=session)
    assert form["author_id"].choices[0] == ("1", "#1 Ann", False)
    assert [label for _, label, _ in form["tags"].choices] == ["#1 python", "#3 sql"]


async def test_a_unique_value_another_row_holds_is_a_message_not_a_409(session):
    session.add(Article(title="First", slug="first", status=Status.DRAFT, author_id=1))
    await session.commit()
    form = ArticleForm({"title": "Again", "slug": "first", "status": "draft", "author_id": "1"})
    assert not await form.validate(session)
    assert form.errors == {"slug": ["This value is already in use."]}

    first = (await session.scalars(sa.select(Article))).one()
    own = ArticleForm(
        {"title": "Renamed", "slug": "first", "status": "draft", "author_id": "1"}, instance=first
    )
    assert await own.validate(session), own.errors  # its own value is no clash
    other = ArticleForm({"title": "Other", "slug": "other", "status": "draft", "author_id": "1"})
    assert await other.validate(session)


def test_a_column_named_like_a_model_form_attribute_must_be_left_out():
    class Gadget(Base):
        __tablename__ = "forms_gadgets"
        id: Mapped[int] = mapped_column(primary_key=True)
        model: Mapped[str] = mapped_column(sa.String(20))
        save: Mapped[str | None] = mapped_column(sa.String(20))
        colour: Mapped[str | None] = mapped_column(sa.String(20))

    with pytest.raises(
        ConfigurationError,
        match=r"'model', 'save' is the name of a ModelForm attribute.*exclude=\['model', 'save'\]",
    ):
        model_form(Gadget)
    assert list(model_form(Gadget, exclude=["model", "save"]).declared) == ["colour"]
    Base.metadata.remove(Gadget.__table__)
