"""/api/docs works offline: the page names no other host, and every asset it loads is
served by us (vendored Swagger UI under static/vendor/swagger-ui)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from tests.conftest import Harness


async def test_api_docs_load_only_local_assets(harness: Harness) -> None:
    res = await harness.client.get("/api/docs")
    assert res.status_code == 200
    html = res.text
    refs = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)
    assert any(r.endswith(".js") for r in refs) and any(r.endswith(".css") for r in refs), refs
    # No absolute URL anywhere in the page (a CDN, the validator badge, a favicon host).
    assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", html, re.I), html
    assert "validatorUrl" in html  # the badge that calls validator.swagger.io is off
    for ref in refs:
        assert not urlsplit(ref).netloc, ref
        asset = await harness.client.get(ref)
        assert asset.status_code == 200, ref
        assert len(asset.content) > 100, ref
    spec = await harness.client.get("/api/openapi.json")
    assert spec.status_code == 200 and spec.json()["info"]["title"] == "Warroom"
    # The CDN-backed ReDoc page FastAPI adds by default is not served.
    assert (await harness.client.get("/redoc")).status_code == 404
