"""CRUDRouter's options: bounded parameters, defaults in the schemas, operations, guards,
the current user, policies, scopes, hooks, the list envelope and the primary key's name."""

import pytest
from sqlalchemy import BigInteger, ForeignKey, MetaData, String, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bastion import Depends, Forbidden
from bastion.auth import Policies, Policy
from bastion.db import Timestamps
from bastion.db.crud import CRUDContext, CRUDRouter
from bastion.db.schemas import schemas_for
from bastion.exceptions import ConfigurationError, Unauthorized
from bastion.http.request import Request
from bastion.testing import TestClient
from tests.db.conftest import app_with_tables

HUGE = "99999999999999999999999"


class Base(DeclarativeBase):
    metadata = MetaData()


class Author(Base):
    __tablename__ = "crud_authors"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40))


class Post(Timestamps, Base):
    __tablename__ = "crud_posts"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20), default="draft")
    views: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("crud_authors.id"))


class Book(Base):
    __tablename__ = "crud_books"
    isbn: Mapped[str] = mapped_column(String(13), primary_key=True)
    title: Mapped[str] = mapped_column(String(100))


def make_client(url, **options):
    app, _ = app_with_tables(url, Base.metadata)
    app.include(CRUDRouter(Post, filters=["views", "status"], sort=["title"], **options))
    app.include(CRUDRouter(Book))
    return TestClient(app)


@pytest.fixture
def client(database_url):
    with make_client(database_url) as test_client:
        yield test_client


# -- integers no column holds -------------------------------------------------------------------
@pytest.mark.parametrize("ident", [HUGE, str(2**63), str(2**31)])  # id is an INTEGER: 32 bits
def test_an_id_no_row_can_have_is_a_404(client, ident):
    for method in ("GET", "PUT", "PATCH", "DELETE"):
        response = client.request(method, f"/crud_posts/{ident}", json={"title": "x"})
        assert response.status_code == 404, (method, response.text)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        (f"after={HUGE}", "query.after"),
        (f"after={2**31}", "query.after"),
        (f"offset={HUGE}", "query.offset"),
        (f"offset={2**63}", "query.offset"),
        (f"limit={HUGE}", "query.limit"),
        (f"views={HUGE}", "query.views"),  # a BIGINT filter: 64 bits
    ],
)
def test_a_cursor_offset_limit_or_filter_out_of_range_is_a_422_naming_it(client, query, field):
    response = client.get(f"/crud_posts?{query}")
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == field


def test_bounds_reach_the_largest_values_a_column_holds(client):
    assert client.get(f"/crud_posts?after={2**31 - 1}").json()["items"] == []
    assert client.get(f"/crud_posts?views={2**63 - 1}").json()["items"] == []
    assert client.get(f"/crud_posts?offset={2**63 - 1}").json()["items"] == []


def test_a_body_integer_out_of_range_is_a_422(client):
    response = client.post("/crud_posts", json={"title": "x", "views": 2**63})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"].endswith("views")


# -- columns with defaults ----------------------------------------------------------------------
def test_columns_with_defaults_are_optional_fields_and_the_default_applies(client):
    sent = client.post("/crud_posts", json={"title": "A", "status": "published", "views": 7})
    assert sent.status_code == 201, sent.text
    assert sent.json()["status"] == "published" and sent.json()["views"] == 7
    assert client.get(f"/crud_posts/{sent.json()['id']}").json()["status"] == "published"
    defaulted = client.post("/crud_posts", json={"title": "B"}).json()
    assert defaulted["status"] == "draft"
    assert client.get(f"/crud_posts/{defaulted['id']}").json()["views"] == 0  # the server's
    patched = client.patch(f"/crud_posts/{defaulted['id']}", json={"status": "published"})
    assert patched.json()["status"] == "published"


def test_timestamps_and_generated_keys_stay_read_only():
    schemas = schemas_for(Post)
    assert set(schemas.create.__struct_fields__) == {"title", "status", "views", "author_id"}
    assert set(schemas.update.__struct_fields__) == {"title", "status", "views", "author_id"}
    assert {"id", "created_at", "updated_at"} <= set(schemas.read.__struct_fields__)


# -- the primary key's name, the envelope -------------------------------------------------------
def test_the_item_path_is_named_after_the_primary_key(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert "/crud_posts/{id}" in paths and "/crud_books/{isbn}" in paths
    [parameter] = paths["/crud_books/{isbn}"]["get"]["parameters"]
    assert parameter["name"] == "isbn" and parameter["in"] == "path"
    assert (
        client.post("/crud_books", json={"isbn": "9780441013593", "title": "Dune"}).status_code
        == 201
    )
    assert client.get("/crud_books/9780441013593").json()["title"] == "Dune"


def test_a_bare_list_keeps_the_links_in_a_link_header(database_url):
    with make_client(database_url, envelope=False, page_size=1) as client:
        for title in ("A", "B", "C"):
            client.post("/crud_posts", json={"title": title})
        first = client.get("/crud_posts")
        assert [p["title"] for p in first.json()] == ["A"]
        assert first.headers["link"] == '</crud_posts?offset=1>; rel="next"'
        middle = client.get("/crud_posts?offset=1")
        assert middle.headers["link"] == (
            '</crud_posts?offset=2>; rel="next", </crud_posts>; rel="prev"'
        )


# -- operations, dependencies and guards --------------------------------------------------------
def refuse() -> None:
    raise Forbidden("Only editors delete posts")


calls: list[str] = []


def count_call(request: Request) -> None:
    calls.append(request.method)


def test_operations_dependencies_and_guards_per_operation(database_url):
    calls.clear()
    with make_client(
        database_url,
        operations=["list", "read", "create", "delete"],
        dependencies=[Depends(count_call)],
        guards={"delete": [Depends(refuse)]},
    ) as client:
        created = client.post("/crud_posts", json={"title": "A"}).json()
        assert client.patch(f"/crud_posts/{created['id']}", json={"title": "B"}).status_code == 405
        assert client.put(f"/crud_posts/{created['id']}", json={"title": "B"}).status_code == 405
        refused = client.delete(f"/crud_posts/{created['id']}")
        assert (
            refused.status_code == 403 and refused.json()["detail"] == "Only editors delete posts"
        )
        assert client.get(f"/crud_posts/{created['id']}").status_code == 200
        assert calls == ["POST", "DELETE", "GET"]


def test_misconfigured_options_fail_at_startup():
    with pytest.raises(ConfigurationError, match="unknown operation 'archive'"):
        CRUDRouter(Post, operations=["list", "archive"])  # type: ignore[list-item]
    with pytest.raises(ConfigurationError, match="unknown operation 'remove'"):
        CRUDRouter(Post, guards={"remove": []})  # type: ignore[dict-item]
    with pytest.raises(ConfigurationError, match="pass user=CurrentUser"):
        CRUDRouter(Post, authorize=lambda user, action, row: None)


# -- the current user, a policy, a scope and hooks ----------------------------------------------
policies = Policies()


@policies.register(Post)
class PostPolicy(Policy):
    def read(self, user, post) -> bool:
        return post.status == "published" or post.author_id == user.id

    def create(self, user, post) -> bool:
        return post.author_id == user.id

    def update(self, user, post) -> bool:
        return post.author_id == user.id

    def delete(self, user, post) -> bool:
        return post.author_id == user.id


async def who(request: Request, db: AsyncSession) -> Author | None:
    """A stand-in for bastion.auth's users: ``X-Author: <id>``."""
    ident = request.headers.get("x-author")
    return await db.get(Author, int(ident)) if ident else None


def owner_on_create(ctx: CRUDContext, post: Post) -> None:
    if ctx.user is None:
        raise Unauthorized("Sign in to write")
    post.author_id = ctx.user.id


def visible(ctx: CRUDContext):
    mine = Post.author_id == ctx.user.id if ctx.user is not None else False
    return (Post.status == "published") | mine


def test_policy_scope_and_hooks_with_the_current_user(database_url):
    with make_client(
        database_url,
        user=who,
        authorize=policies.authorize,
        scope=visible,
        before_create=owner_on_create,
    ) as client:
        client.portal.call(_authors(client))
        alice, bob = {"x-author": "1"}, {"x-author": "2"}
        assert client.post("/crud_posts", json={"title": "Anonymous"}).status_code == 401
        draft = client.post("/crud_posts", json={"title": "Mine", "author_id": 2}, headers=alice)
        assert draft.status_code == 201 and draft.json()["author_id"] == 1  # the hook decides
        post = draft.json()["id"]
        assert client.get(f"/crud_posts/{post}", headers=alice).status_code == 200
        assert client.get(f"/crud_posts/{post}", headers=bob).status_code == 404  # out of scope
        assert client.get("/crud_posts", headers=bob).json()["total"] == 0
        published = client.patch(f"/crud_posts/{post}", json={"status": "published"}, headers=alice)
        assert published.status_code == 200
        etag = published.headers["etag"]
        assert client.get(f"/crud_posts/{post}", headers=bob).status_code == 200
        assert client.get("/crud_posts", headers=bob).json()["total"] == 1
        stolen = client.patch(f"/crud_posts/{post}", json={"title": "Bob's"}, headers=bob)
        assert stolen.status_code == 403
        assert client.delete(f"/crud_posts/{post}", headers=bob).status_code == 403
        assert client.delete(f"/crud_posts/{post}").status_code == 401
        stale = client.delete(f"/crud_posts/{post}", headers={**alice, "if-match": '"old"'})
        assert stale.status_code == 412
        assert client.get(f"/crud_posts/{post}", headers=alice).headers["etag"] == etag
        gone = client.delete(f"/crud_posts/{post}", headers={**alice, "if-match": etag})
        assert gone.status_code == 204


async def _authors(client) -> None:
    [plugin] = client.app.plugins
    async with plugin.sessions() as db:
        db.add_all([Author(id=1, name="alice"), Author(id=2, name="bob")])
        await db.commit()
