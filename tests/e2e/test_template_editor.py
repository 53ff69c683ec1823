"""The report-template editor over HTTP (in-process app, real Redis and SQL): a simple
template with placeholders is previewed from the campaign's figures, saved as Jinja,
shown back as simple text, and the next report is rendered with it; bad simple text
answers a clear error and saves nothing."""

from __future__ import annotations

import html
import re

import pytest

from tests.conftest import Harness
from tests.e2e.test_console import sign_in
from tests.e2e.test_triggers import last_minute, live, order, reports, tick_until

SIMPLE = "🎉 {活动名称} 突破 {里程碑}！\n💰 成交 {累计销售额} ｜ {订单数} 单\n🔥 还差 {距基础目标}"


def textarea(page: str, name: str) -> str:
    m = re.search(rf'<textarea name="{name}"[^>]*>(.*?)</textarea>', page, re.S)
    assert m, page[:400]
    return html.unescape(m.group(1))


async def test_a_simple_template_is_previewed_saved_shown_back_and_reported(
    harness: Harness,
) -> None:
    c = await harness.create_campaign(**live(), milestones_fen=[100_000])
    await harness.post_events("sale", c["ingest_token"], [order(1, 150_000, await last_minute())])
    await harness.drain()
    client = harness.client
    csrf = await sign_in(client)
    form = {"mode": "simple", "simple": SIMPLE, "csrf_token": csrf}

    # the preview uses the campaign's own figures (¥1,500, 1 order), not the sample's
    res = await client.post("/admin/c/sale/templates/milestone/preview", data=form)
    assert res.status_code == 200, res.text
    assert "活动实时数据" in res.text
    assert "🎉 双十一社群快闪 突破 ¥30万！\n💰 成交 ¥1,500 ｜ 1 单\n🔥 还差 ¥99.85万" in (
        html.unescape(res.text)
    )
    # ... and the Jinja view follows the simple text (out of band)
    assert 'id="source-box" hx-swap-oob="true"' in res.text
    assert "{{ milestone }}" in html.unescape(res.text)

    res = await client.post("/admin/c/sale/templates/milestone", data=form)
    assert res.status_code == 200 and 'id="template-saved"' in res.text
    stored = harness.runtime.reports.templates(1)["milestone"]
    assert stored == (
        "🎉 {{ campaign_name }} 突破 {{ milestone }}！\n"
        "💰 成交 {{ gmv }} ｜ {{ orders }} 单\n"
        "{% if gap_base %}\n🔥 还差 {{ gap_base }}\n{% endif %}"
    )

    # the page opens the stored template in the simple view, as it was written
    page = (await client.get("/admin/c/sale/templates?kind=milestone")).text
    assert 'id="tpl-mode" value="simple"' in page
    assert textarea(page, "simple") == SIMPLE
    assert 'data-insert="里程碑"' in page and 'data-insert="本时段增量"' not in page

    async def posted() -> bool:
        return any(r["kind"] == "milestone" for r in await reports(harness, c))

    await tick_until(harness, posted)
    text = next(r["text"] for r in await reports(harness, c) if r["kind"] == "milestone")
    assert text == "🎉 双十一社群快闪 突破 ¥1,000！\n💰 成交 ¥1,500 ｜ 1 单\n🔥 还差 ¥99.85万"


async def test_a_jinja_template_opens_in_the_advanced_view(harness: Harness) -> None:
    await harness.create_campaign()
    client = harness.client
    csrf = await sign_in(client)
    page = (await client.get("/admin/c/sale/templates?kind=scheduled")).text
    assert 'id="tpl-mode" value="advanced"' in page  # the default uses loops
    assert "{% for s in top5 %}" in textarea(page, "source")
    assert "{团长榜}" in textarea(page, "simple")  # a simple starter waits behind
    source = "{{ gmv | wan }}"
    res = await client.post(
        "/admin/c/sale/templates/scheduled",
        data={"mode": "advanced", "source": "{{ orders }} 单", "csrf_token": csrf},
    )
    assert res.status_code == 200
    # an advanced edit the simple form can say is shown in it too
    assert 'id="simple-box" hx-swap-oob="true"' in res.text
    assert "{订单数} 单" in html.unescape(res.text)
    res = await client.post(
        "/admin/c/sale/templates/scheduled/preview",
        data={"mode": "advanced", "source": source, "csrf_token": csrf},
    )
    assert 'id="simple-note" hx-swap-oob="true">' in res.text  # not expressible: the note


@pytest.mark.parametrize(
    ("simple", "words"),
    [
        ("成交 {销量}", "未知占位符「销量」"),
        ("成交 {累计销售额", "没有配对"),
        ("本时段 {本时段增量}", "在这类战报中没有数值"),  # a milestone report has no delta
        ("<b>冲</b> {累计销售额}", "不支持 HTML"),
        ("冠军 \u202e{冠军团长}", "U+202E"),
        ("{{ gmv }}", "高级模式"),
    ],
)
async def test_bad_simple_text_is_refused_and_saves_nothing(
    harness: Harness, simple: str, words: str
) -> None:
    await harness.create_campaign()
    client = harness.client
    csrf = await sign_in(client)
    await client.post(
        "/admin/c/sale/templates/milestone",
        data={"mode": "simple", "simple": "{累计销售额}", "csrf_token": csrf},
    )
    before = harness.runtime.reports.templates(1)
    res = await client.post(
        "/admin/c/sale/templates/milestone",
        data={"mode": "simple", "simple": simple, "csrf_token": csrf},
    )
    assert res.status_code == 422
    m = re.search(r'id="template-error" role="alert">([^<]*)<', res.text)
    assert m and words in html.unescape(m.group(1)), res.text
    assert "template-saved" not in res.text and "<b>冲" not in res.text
    assert harness.runtime.reports.templates(1) == before == {"milestone": "{{ gmv }}"}
