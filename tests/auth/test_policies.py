from dataclasses import dataclass

import pytest

from bastion import App, ConfigurationError, Forbidden, Settings, Unauthorized
from bastion.auth import AuthPlugin, CurrentUser, JWTAuth, Policies, Policy, authorize, can, policy
from bastion.testing import TestClient
from tests.auth.conftest import SECRET


@dataclass
class Author:
    id: int
    roles: tuple[str, ...] = ()


@dataclass
class Post:
    author_id: int


class Draft(Post):
    pass


registry = Policies()


@registry.register(Post)
class PostPolicy(Policy):
    def before(self, user: Author, action: str) -> bool | None:
        return True if "admin" in user.roles else None

    def update(self, user: Author, post: Post) -> bool:
        return post.author_id == user.id

    def delete(self, user: Author, post: Post) -> bool:
        return False


def test_owner_may_update_others_may_not() -> None:
    assert registry.can(Author(1), "update", Post(1)) is True
    assert registry.can(Author(2), "update", Post(1)) is False


def test_before_lets_admins_do_anything() -> None:
    assert registry.can(Author(2, ("admin",)), "delete", Post(1)) is True
    assert registry.can(Author(1), "delete", Post(1)) is False


def test_subclasses_use_the_parent_policy() -> None:
    assert registry.can(Author(1), "update", Draft(1)) is True


def test_anonymous_users_may_do_nothing() -> None:
    assert registry.can(None, "update", Post(1)) is False
    with pytest.raises(Unauthorized):
        registry.authorize(None, "update", Post(1))


def test_authorize_raises_403_for_authenticated_users() -> None:
    registry.authorize(Author(1), "update", Post(1))
    with pytest.raises(Forbidden, match="You may not update this post"):
        registry.authorize(Author(2), "update", Post(1))


def test_a_misspelt_action_or_a_missing_policy_is_an_error() -> None:
    with pytest.raises(LookupError, match="no action 'updte'.*delete, update"):
        registry.can(Author(1), "updte", Post(1))
    with pytest.raises(LookupError, match="No policy for Author"):
        registry.can(Author(1), "update", Author(1))


def test_a_model_takes_one_policy() -> None:
    with pytest.raises(ConfigurationError, match="already has a policy"):
        registry.register(Post)(PostPolicy)


@dataclass
class Comment:
    author: str


@policy(Comment)
class CommentPolicy(Policy):
    def edit(self, user: object, comment: Comment) -> bool:
        return getattr(user, "subject", None) == comment.author


def test_the_default_registry_in_a_handler() -> None:
    tokens = JWTAuth(secret=SECRET)
    app = App(settings=Settings(profile="test"), plugins=[AuthPlugin(tokens)])
    comments = {1: Comment("ada")}

    @app.put("/comments/{comment_id}")
    async def edit(comment_id: int, user: CurrentUser) -> dict:
        comment = comments[comment_id]
        authorize(user, "edit", comment)
        return {"editable": can(user, "edit", comment)}

    client = TestClient(app)
    as_ada = {"Authorization": f"Bearer {tokens.encode({'sub': 'ada'})}"}
    as_bob = {"Authorization": f"Bearer {tokens.encode({'sub': 'bob'})}"}
    assert client.put("/comments/1", headers=as_ada).json() == {"editable": True}
    assert client.put("/comments/1", headers=as_bob).status_code == 403
    assert client.put("/comments/1").status_code == 401
