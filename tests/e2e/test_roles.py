"""Roles on every admin route, read from the app's own route table (issue 18).

The static check walks `app.routes`: every route under /api/v1 and /admin that is not
named below as public or viewer-side must depend on a role dependency (web/deps.py
`ROLE_DEPS`, web/console/auth.py `ROLE_DEPS`); a change (POST, PUT, PATCH, DELETE)
must need operator or above; people, keys and the audit must need owner. A new admin
route that forgets its role fails here.

The live check sends every such change as an analyst (an API key, a console session)
and every owner route as an operator, and expects 403 with nothing changed."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.routing import APIRoute

from tests.conftest import ADMIN, Harness
from tests.e2e.test_people import OWNER_H, add_key, add_user, bearer, person_client
from warroom.bootstrap import web_app
from warroom.settings import Settings
from warroom.web import deps
from warroom.web.console import auth

CHANGES = {"POST", "PUT", "PATCH", "DELETE"}
RANK = {"signed": 0, "analyst": 1, "operator": 2, "owner": 3}

# Routes under the admin prefixes that take no admin role, and why.
PUBLIC: dict[tuple[str, str], str] = {
    ("POST", "/api/v1/campaigns/{slug}/events"): "the ingest token",
    ("GET", "/admin"): "the sign-in page, or the campaigns once signed in (checks itself)",
    ("POST", "/admin/login"): "signing in",
}
# Changes any signed-in person may make to their own session or account.
SIGNED_ONLY = {("POST", "/admin/logout"), ("POST", "/admin/account/password")}
# Viewer-side reads (a viewer token, or any admin credential through is_admin).
VIEWER_DEPS: set[Callable[..., Any]] = {deps.viewer_campaign}
VIEWER_INLINE = {
    "/api/v1/campaigns/{slug}/groups",
    "/api/v1/campaigns/{slug}/groups/summary",
    "/api/v1/campaigns/{slug}/membership",
    "/api/v1/campaigns/{slug}/export/{table}.csv",
    "/api/v1/campaigns/{slug}/reports/{report_id}/poster.png",
    # read through deps.viewer_access: a viewer token, a scoped link, or the admin
    "/api/v1/campaigns/{slug}/snapshot",
    "/api/v1/campaigns/{slug}/reports",
    "/api/v1/campaigns/{slug}/stimuli",
    "/api/v1/campaigns/{slug}/stimuli/{fire_id}/assignment",
}
OWNER_PATHS = re.compile(r"^/(api/v1/(users|keys|audit)|admin/(people|keys|audit))(/|$)")
ADMIN_PATHS = re.compile(r"^/(api/v1|admin)(/|$)")


def walk(routes: list[Any]) -> Iterator[APIRoute]:
    for r in routes:
        if hasattr(r, "original_router"):  # an included router (FastAPI >= 0.16x)
            yield from walk(r.original_router.routes)
        elif isinstance(r, APIRoute):
            yield r


def calls(dependant: Any) -> Iterator[Callable[..., Any]]:
    for sub in dependant.dependencies:
        yield sub.call
        yield from calls(sub)


def role_of(route: APIRoute) -> str | None:
    """The strongest role among the route's dependencies (None: no role dependency)."""
    table: dict[Any, str] = {**deps.ROLE_DEPS, **auth.ROLE_DEPS}
    found = [table[c] for c in calls(route.dependant) if c in table]
    return max(found, key=RANK.__getitem__) if found else None


def admin_routes() -> list[tuple[str, str, APIRoute]]:
    app = web_app(Settings(warroom_admin_token="x"))
    out = []
    for route in walk(app.routes):
        if not ADMIN_PATHS.match(route.path):
            continue
        for method in sorted(route.methods):
            if (method, route.path) in PUBLIC:
                continue
            if method == "GET" and (
                route.path in VIEWER_INLINE or set(calls(route.dependant)) & VIEWER_DEPS
            ):
                continue
            out.append((method, route.path, route))
    return out


ROUTES = admin_routes()


def test_the_table_sees_the_admin_routes() -> None:
    paths = {(m, p) for m, p, _ in ROUTES}
    assert len(ROUTES) > 40
    for expected in (
        ("PATCH", "/api/v1/campaigns/{slug}"),
        ("POST", "/api/v1/users"),
        ("POST", "/admin/c/{slug}/settings"),
        ("GET", "/admin/audit"),
    ):
        assert expected in paths


@pytest.mark.parametrize(
    ("method", "path", "route"), ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES]
)
def test_every_admin_route_declares_its_role(method: str, path: str, route: APIRoute) -> None:
    role = role_of(route)
    assert role is not None, f"{method} {path} has no role dependency (web/deps.py, auth.py)"
    if OWNER_PATHS.match(path):
        assert role == "owner", f"{method} {path} is about people, keys or the audit: owner"
    elif method in CHANGES and (method, path) not in SIGNED_ONLY:
        assert RANK[role] >= RANK["operator"], f"{method} {path} changes state: operator"


def concrete(path: str) -> str:
    values = {
        "slug": "sale",
        "kind": "scheduled",
        "table": "orders",
        "user_id": "1",
        "key_id": "1",
        "webhook_id": "1",
        "hook_id": "1",
        "report_id": "1",
    }
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), "1"), path)


async def test_analysts_change_nothing_and_operators_reach_no_owner_route(
    harness: Harness,
) -> None:
    h = harness
    await h.create_campaign()
    analyst = await add_key(h, "reader", "analyst")
    operator = await add_key(h, "ops", "operator")
    a_user = await add_user(h, "an@example.com", "analyst")
    o_user = await add_user(h, "opr@example.com", "operator")
    before_audit = (await h.client.get("/api/v1/audit", headers=OWNER_H)).json()
    before_settings = (await h.runtime.campaigns.get("sale")).settings

    ac, a_csrf = await person_client(h, "an@example.com", a_user["password"])
    oc, o_csrf = await person_client(h, "opr@example.com", o_user["password"])
    async with ac, oc:
        checked = 0
        for method, path, _ in ROUTES:
            url = concrete(path)
            is_owner = bool(OWNER_PATHS.match(path))
            api = path.startswith("/api/")
            if (method, path) in SIGNED_ONLY:
                continue
            if api:
                body: Any = {} if method in CHANGES else None
                if method in CHANGES or is_owner:
                    who = operator if is_owner else analyst
                    res = await h.client.request(method, url, json=body, headers=bearer(who["key"]))
                    assert res.status_code == 403, (method, path, res.text)
                    checked += 1
            elif method in CHANGES or is_owner:
                client, csrf = (oc, o_csrf) if is_owner else (ac, a_csrf)
                if method == "GET":
                    res = await client.get(url)
                else:
                    res = await client.request(method, url, data={"csrf_token": csrf})
                assert res.status_code == 403, (method, path, res.text[:300])
                assert "没有权限" in res.text
                checked += 1
        assert checked > 25
    assert (await h.client.get("/api/v1/audit", headers=OWNER_H)).json() == before_audit
    assert (await h.runtime.campaigns.get("sale")).settings == before_settings
    # and the admin token still does all of it
    assert (
        await h.client.get("/api/v1/users", headers={"Authorization": f"Bearer {ADMIN}"})
    ).status_code == 200
