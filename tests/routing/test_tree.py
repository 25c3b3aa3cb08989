import pytest

from bastion.exceptions import ConfigurationError
from bastion.routing._tree import RouteTree
from bastion.routing.converters import DEFAULT_CONVERTERS as C


def tree_with(*routes: tuple[str, dict[str, str]]) -> RouteTree[str]:
    tree: RouteTree[str] = RouteTree()
    for path, types in routes:
        tree.add(path, ("GET",), path, {k: C[v] for k, v in types.items()})
    return tree


def test_static_route_is_found_with_no_params():
    tree = tree_with(("/health", {}))
    assert tree.find("/health") == ({"GET": "/health"}, {})


def test_unknown_path_is_none():
    assert tree_with(("/a", {})).find("/b") is None


def test_a_parameter_at_the_root_is_tried_after_a_first_segment_misses():
    """Misses under an all-static root skip the walk; a root parameter turns that off."""
    tree = tree_with(("/users/{id}", {"id": "int"}))
    assert tree.find("/posts/1") is None
    tree.add("/{page}/{id}", ("GET",), "/{page}/{id}", {"page": C["str"], "id": C["int"]})
    assert tree.find("/posts/1") == ({"GET": "/{page}/{id}"}, {"page": "posts", "id": 1})
    assert tree.find("/users/1") == ({"GET": "/users/{id}"}, {"id": 1})


def test_int_param_is_converted():
    tree = tree_with(("/users/{id}", {"id": "int"}))
    assert tree.find("/users/42") == ({"GET": "/users/{id}"}, {"id": 42})


def test_int_param_rejects_text():
    assert tree_with(("/users/{id}", {"id": "int"})).find("/users/abc") is None


def test_static_segment_wins_over_param():
    tree = tree_with(("/users/{id}", {"id": "str"}), ("/users/me", {}))
    assert tree.find("/users/me")[0] == {"GET": "/users/me"}
    assert tree.find("/users/bob")[1] == {"id": "bob"}


def test_typed_param_falls_back_to_next_candidate():
    tree = tree_with(("/items/{id}", {"id": "int"}), ("/items/{slug}", {"slug": "str"}))
    assert tree.find("/items/7")[1] == {"id": 7}
    assert tree.find("/items/seven")[1] == {"slug": "seven"}


def test_backtracking_past_a_dead_end():
    tree = tree_with(("/a/{x}/b", {"x": "str"}), ("/a/{y}/c", {"y": "int"}))
    assert tree.find("/a/1/c") == ({"GET": "/a/{y}/c"}, {"y": 1})


def test_path_converter_takes_the_rest():
    tree = tree_with(("/files/{name}", {"name": "path"}))
    assert tree.find("/files/a/b/c.txt")[1] == {"name": "a/b/c.txt"}


def test_path_converter_must_be_last():
    with pytest.raises(ConfigurationError, match="last segment"):
        tree_with(("/files/{name}/x", {"name": "path"}))


def test_uuid_converter():
    tree = tree_with(("/o/{id}", {"id": "uuid"}))
    found = tree.find("/o/12345678-1234-5678-1234-567812345678")
    assert str(found[1]["id"]) == "12345678-1234-5678-1234-567812345678"
    assert tree.find("/o/not-a-uuid") is None


def test_slug_converter_rejects_dots():
    tree = tree_with(("/p/{s}", {"s": "slug"}))
    assert tree.find("/p/hello-world_1")[1] == {"s": "hello-world_1"}
    assert tree.find("/p/a.b") is None


def test_trailing_slash_is_a_different_path():
    tree = tree_with(("/a/", {}))
    assert tree.find("/a/") is not None
    assert tree.find("/a") is None


def test_duplicate_route_is_rejected():
    tree: RouteTree[str] = RouteTree()
    tree.add("/x", ("GET",), "a", {})
    with pytest.raises(ConfigurationError, match="declared twice"):
        tree.add("/x", ("GET",), "b", {})


def test_param_segment_mixed_with_text_is_rejected():
    with pytest.raises(ConfigurationError, match="whole segment"):
        tree_with(("/a/x{y}", {}))


def test_empty_segment_does_not_match_a_param():
    assert tree_with(("/u/{id}/p", {"id": "str"})).find("/u//p") is None
