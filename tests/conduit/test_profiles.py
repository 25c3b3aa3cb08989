"""Profiles: read one, follow and unfollow its user."""


def test_profile_for_an_anonymous_reader(client, api):
    api.register("celeb")
    response = client.get("/api/profiles/celeb")
    assert response.status_code == 200
    assert response.json() == {"profile": {"username": "celeb", "bio": None, "image": None, "following": False}}


def test_unknown_profile_is_404(client):
    response = client.get("/api/profiles/nobody")
    assert response.status_code == 404
    assert response.json() == {"errors": {"profile": ["not found"]}}


def test_follow_then_unfollow(client, api):
    api.register("celeb")
    fan = api.register("fan")
    followed = client.post("/api/profiles/celeb/follow", headers=fan)
    assert followed.status_code == 200
    assert followed.json()["profile"] == {"username": "celeb", "bio": None, "image": None, "following": True}
    assert client.get("/api/profiles/celeb", headers=fan).json()["profile"]["following"] is True
    assert client.get("/api/profiles/celeb").json()["profile"]["following"] is False  # anonymous
    unfollowed = client.delete("/api/profiles/celeb/follow", headers=fan)
    assert unfollowed.status_code == 200
    assert unfollowed.json()["profile"]["following"] is False
    assert client.get("/api/profiles/celeb", headers=fan).json()["profile"]["following"] is False


def test_following_is_per_reader(client, api):
    api.register("celeb")
    fan, other = api.register("fan"), api.register("other")
    client.post("/api/profiles/celeb/follow", headers=fan)
    assert client.get("/api/profiles/celeb", headers=other).json()["profile"]["following"] is False


def test_follow_and_unfollow_are_idempotent(client, api):
    api.register("celeb")
    fan = api.register("fan")
    for _ in range(2):
        assert client.post("/api/profiles/celeb/follow", headers=fan).json()["profile"]["following"] is True
    for _ in range(2):
        assert client.delete("/api/profiles/celeb/follow", headers=fan).json()["profile"]["following"] is False


def test_following_yourself_is_allowed(client, api):
    me = api.register("me")
    assert client.post("/api/profiles/me/follow", headers=me).json()["profile"]["following"] is True


def test_follow_an_unknown_profile_is_404(client, api):
    fan = api.register("fan")
    for method in (client.post, client.delete):
        response = method("/api/profiles/nobody/follow", headers=fan)
        assert response.status_code == 404
        assert response.json() == {"errors": {"profile": ["not found"]}}


def test_follow_without_a_token_is_401(client, api):
    api.register("celeb")
    for method in (client.post, client.delete):
        response = method("/api/profiles/celeb/follow")
        assert response.status_code == 401
        assert response.json() == {"errors": {"token": ["is missing"]}}
