"""Spreadsheet imports (issue 19): CSV and XLSX files become v1 events through the
ledger writer, against the real Redis and database."""

from __future__ import annotations

import asyncio
import io
import json
import threading
import time
import zipfile
from typing import Any

import openpyxl
import pytest

from tests.conftest import ADMIN, Harness, harness_for

ADMIN_H = {"Authorization": f"Bearer {ADMIN}"}
HEADER = ["订单号", "金额(元)", "团长", "群", "买家", "商品", "下单时间"]
MAPPING = {
    "type": "order",
    "columns": {
        "order_id": "订单号",
        "amount_fen": {"column": "金额(元)", "scale": 100},
        "seller_id": "团长",
        "group_id": "群",
        "buyer_id": "买家",
        "product_id": "商品",
        "ts": "下单时间",
    },
}
ROWS = [
    ["A001", "12.50", "张姐", "g1", "b1", "p1", "2026-11-11 10:05:00"],
    ["A002", "88", "李哥", "g2", "b2", "p2", "2026/11/11 10:06"],
    ["A003", "1,288.00", "张姐", "g1", "b3", "p1", "2026-11-11T10:07:00+08:00"],
]


def csv_bytes(rows: list[list[str]], header: list[str] = HEADER) -> str:
    lines = [",".join(header)] + [",".join(f'"{c}"' if "," in c else c for c in r) for r in rows]
    return "\r\n".join(lines) + "\r\n"


def xlsx_bytes(rows: list[list[Any]], header: list[str] = HEADER) -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(header)
    for r in rows:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


async def upload(
    h: Harness,
    content: bytes,
    name: str = "orders.csv",
    mapping: Any = MAPPING,
    dry_run: bool = False,
    slug: str = "sale",
) -> Any:
    data = {"mapping": mapping if isinstance(mapping, str) else json.dumps(mapping)}
    data["dry_run"] = "true" if dry_run else "false"
    return await h.client.post(
        f"/api/v1/campaigns/{slug}/imports",
        files={"file": (name, content)},
        data=data,
        headers=ADMIN_H,
        timeout=600,
    )


def ledger_count(h: Harness) -> int:
    rt = h.runtime
    record = rt.store.get_campaign("sale")
    return rt.store.count_events(record.id)


def bodies(h: Harness) -> dict[str, dict[str, Any]]:
    rt = h.runtime
    record = rt.store.get_campaign("sale")
    return {e["key"]: e for batch in rt.store.iter_ledger(record.id) for e in batch}


@pytest.mark.parametrize(
    ("encoding", "name"),
    [("utf-8", "utf8.csv"), ("utf-8-sig", "bom.csv"), ("gb18030", "gbk.csv")],
)
async def test_csv_in_each_encoding_becomes_events(settings, encoding: str, name: str) -> None:
    async with harness_for(settings) as h:
        await h.create_campaign()
        res = await upload(h, csv_bytes(ROWS).encode(encoding), name)
        assert res.status_code == 200, res.text
        body = res.json()
        assert (body["rows"], body["accepted"], body["duplicates"], body["rejected"]) == (
            3,
            3,
            0,
            [],
        )
        events = bodies(h)
        a1 = events["order:A001"]
        assert a1["amount_fen"] == 1250 and a1["seller_id"] == "张姐"
        # 10:05 without an offset is in the campaign's zone (Asia/Shanghai by default)
        assert a1["ts"] == 1_794_362_700_000
        assert events["order:A002"]["ts"] == 1_794_362_760_000
        assert events["order:A003"]["amount_fen"] == 128_800
        # the events reach the hot state like any other (the relay re-publishes what a
        # slow first stream append left to it, as for the events API)
        from warroom.workers.relay import Relay

        await Relay(h.runtime.store, h.runtime.stream, grace_ms=0).run_once()
        await h.drain()
        snap = await h.snapshot("sale", ADMIN)
        assert snap["totals"]["gmv_fen"] == 1250 + 8800 + 128_800


async def test_bad_rows_are_reported_with_sheet_row_numbers(settings) -> None:
    rows = [
        ["B001", "10", "s", "g", "b", "p", "2026-11-11 10:00"],  # row 1: good
        ["B002", "-5", "s", "g", "b", "p", "2026-11-11 10:00"],  # 2: negative
        ["", "", "", "", "", "", ""],  # 3: empty, skipped but counted in the numbering
        ["B004", "12.345", "s", "g", "b", "p", "2026-11-11 10:00"],  # 4: beyond the scale
        ["B005", "abc", "s", "g", "b", "p", "2026-11-11 10:00"],  # 5: not a number
        ["B006", "10", "s", "g", "", "p", "2026-11-11 10:00"],  # 6: no buyer
        ["B007", "10", "s", "g", "b", "p", "昨天"],  # 7: not a time
        ["B008", "10", "s", "g", "b", "p", "2020-01-01 10:00"],  # 8: outside the window
        ["B009", "0.01", "s", "g", "b", "p", "2026-11-11 10:00"],  # 9: one fen: good
    ]
    async with harness_for(settings) as h:
        await h.create_campaign()
        res = await upload(h, csv_bytes(rows).encode())
        body = res.json()
        assert res.status_code == 200, body
        assert (body["rows"], body["accepted"], body["duplicates"]) == (8, 2, 0)
        errors = {r["row"]: r["error"] for r in body["rejected"]}
        assert sorted(errors) == [2, 4, 5, 6, 7, 8]
        assert "must be more than 0" in errors[2] and "金额(元)" in errors[2]
        assert "more decimals than the scale 100 allows" in errors[4]
        assert "not a number" in errors[5]
        assert errors[6].startswith("buyer_id (买家)") and "required" in errors[6]
        assert "not a time" in errors[7]
        assert "outside the campaign's window" in errors[8]
        assert body["rejected_count"] == 6
        assert bodies(h)["order:B009"]["amount_fen"] == 1


async def test_dry_run_changes_nothing_and_reimport_adds_nothing(settings) -> None:
    async with harness_for(settings) as h:
        await h.create_campaign()
        content = csv_bytes(ROWS).encode()
        dry = (await upload(h, content, dry_run=True)).json()
        assert (dry["accepted"], dry["duplicates"], dry["rejected"], dry["dry_run"]) == (
            3,
            0,
            [],
            True,
        )
        assert ledger_count(h) == 0
        first = (await upload(h, content)).json()
        assert (first["accepted"], first["duplicates"]) == (3, 0)
        assert ledger_count(h) == 3
        audit = h.runtime.store.audit_log(h.runtime.store.get_campaign("sale").id)
        imports = [a for a in audit if a["action"] != "create"]  # creation is audited too
        assert [(a["action"], a["detail"]["accepted"]) for a in imports] == [("import", 3)]
        again = (await upload(h, content)).json()
        assert (again["rows"], again["accepted"], again["duplicates"], again["rejected"]) == (
            3,
            0,
            3,
            [],
        )
        # a dry run after the import says the same, still without writing
        dry2 = (await upload(h, content, dry_run=True)).json()
        assert (dry2["accepted"], dry2["duplicates"]) == (0, 3)
        # a changed amount under a recorded id is a conflict, in a dry run and for real
        changed = [["A001", "13", *ROWS[0][2:]]]
        for dry_run in (True, False):
            body = (await upload(h, csv_bytes(changed).encode(), dry_run=dry_run)).json()
            assert body["accepted"] == 0 and "conflict" in body["rejected"][0]["error"]
            assert "amount_fen" in body["rejected"][0]["error"]
        assert ledger_count(h) == 3


async def test_without_an_id_column_the_identity_is_a_hash_of_the_row(settings) -> None:
    mapping = {
        "type": "order",
        "columns": {
            "amount_fen": {"column": "金额(元)", "scale": 100},
            "seller_id": "团长",
            "group_id": {"const": "g-jielong"},
            "buyer_id": "买家",
            "product_id": {"const": "rice"},
        },
    }
    async with harness_for(settings) as h:
        await h.create_campaign()
        content = csv_bytes(ROWS).encode()
        first = (await upload(h, content, mapping=mapping)).json()
        assert first["accepted"] == 3
        # the same rows in an XLSX: the same identities (cells are normalized)
        again = (await upload(h, xlsx_bytes(ROWS), "same.xlsx", mapping=mapping)).json()
        assert (again["accepted"], again["duplicates"]) == (0, 3), again
        keys = sorted(bodies(h))
        assert all(k.startswith("order:row-") for k in keys) and len(keys) == 3
        assert bodies(h)[keys[0]]["group_id"] == "g-jielong"


async def test_xlsx_numbers_dates_and_formulas(settings) -> None:
    from datetime import datetime

    rows = [
        [20261111001, 12.5, "张姐", "g1", "b1", "p1", datetime(2026, 11, 11, 10, 5)],
        [20261111002, 0.1, "张姐", "g1", "b2", "p1", datetime(2026, 11, 11, 10, 6)],
        [
            "C003",
            '=HYPERLINK("http://evil.example/x","点我")',
            "张姐",
            "g1",
            "b3",
            "p1",
            "2026-11-11 10:07",
        ],
        ["C004", 12.345, "张姐", "g1", "b4", "p1", datetime(2026, 11, 11, 10, 8)],
        [
            "C005",
            20,
            '=HYPERLINK("http://evil.example/y","张姐")',
            "g1",
            "b5",
            "p1",
            "2026-11-11 10:09",
        ],
    ]
    content = xlsx_bytes(rows)
    # Give row 5's formula a cached value, as Excel would have saved it.
    src = zipfile.ZipFile(io.BytesIO(content))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as out:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                text = data.decode()
                head, sep, rest = text.partition('<c r="C6"')
                cell_end = rest.index("</c>")
                cell = (
                    rest[:cell_end]
                    .replace("<v></v>", "<v>张姐</v>")
                    .replace("<v />", "<v>张姐</v>")
                )
                if "<v>张姐</v>" not in cell:
                    cell += "<v>张姐</v>"
                data = (head + sep + ' t="str"' + cell + rest[cell_end:]).encode()
            out.writestr(info, data)
    async with harness_for(settings) as h:
        await h.create_campaign()
        res = await upload(h, buf.getvalue(), "sheet.xlsx")
        body = res.json()
        assert res.status_code == 200, body
        events = bodies(h)
        assert events["order:20261111001"]["amount_fen"] == 1250  # no "20261111001.0"
        assert events["order:20261111002"]["amount_fen"] == 10  # 0.1 元, exactly
        assert events["order:20261111001"]["ts"] == 1_794_362_700_000
        # a formula without a cached value reads empty: never evaluated, never its text
        errors = {r["row"]: r["error"] for r in body["rejected"]}
        assert errors[3].startswith("amount_fen (金额(元))") and "required" in errors[3]
        assert "more decimals" in errors[4]
        # a formula with a cached value reads as that value
        assert events["order:C005"]["seller_id"] == "张姐"
        assert not any("HYPERLINK" in json.dumps(e, ensure_ascii=False) for e in events.values())
        assert (body["rows"], body["accepted"]) == (5, 3)


async def test_wrong_mapping_is_a_clear_422(settings) -> None:
    async with harness_for(settings) as h:
        await h.create_campaign()
        content = csv_bytes(ROWS).encode()
        bad = json.loads(json.dumps(MAPPING))
        bad["columns"]["buyer_id"] = "买家昵称"
        res = await upload(h, content, mapping=bad)
        assert res.status_code == 422
        assert "unknown column '买家昵称'" in res.json()["error"]
        assert "买家" in res.json()["error"]  # the header it has
        bad = {"type": "order", "columns": {"order_id": "订单号", "colour": "群"}}
        res = await upload(h, content, mapping=bad)
        assert res.status_code == 422 and "'colour' is not a field of order" in res.json()["error"]
        bad = {"type": "order", "columns": {"order_id": "订单号", "amount_fen": "金额(元)"}}
        res = await upload(h, content, mapping=bad)
        assert res.status_code == 422 and "seller_id is required" in res.json()["error"]
        res = await upload(h, content, mapping="{not json")
        assert res.status_code == 422 and "not valid JSON" in res.json()["error"]
        res = await upload(h, content, mapping={"type": "gift", "columns": {}})
        assert res.status_code == 422 and "mapping.type" in res.json()["error"]
        assert ledger_count(h) == 0


async def test_hostile_files(settings) -> None:
    settings.imports.max_bytes = 2 * 1024 * 1024
    settings.imports.max_unzipped_bytes = 8 * 1024 * 1024
    async with harness_for(settings) as h:
        await h.create_campaign()
        # not UTF-8, not GB18030
        garbage = bytes(range(128, 256)) * 100
        res = await upload(h, garbage, "x.csv")
        assert res.status_code == 422 and "neither UTF-8 nor GB18030" in res.json()["error"]
        res = await upload(h, b"\x00\x01binary\x00", "x.csv")
        assert res.status_code == 422
        # named .xlsx but not a zip; a zip that is not a workbook
        res = await upload(h, b"hello", "x.xlsx")
        assert res.status_code == 422 and "not an XLSX" in res.json()["error"]
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("hello.txt", "hi")
        res = await upload(h, buf.getvalue(), "x.xlsx")
        assert res.status_code == 422 and "not a readable XLSX" in res.json()["error"]
        # a zip bomb: 64 MiB of zeros deflate to ~64 KiB; refused by its declared size
        bomb = io.BytesIO()
        with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("[Content_Types].xml", "<Types/>")
            z.writestr("xl/worksheets/sheet1.xml", b"\0" * (64 * 1024 * 1024))
        assert len(bomb.getvalue()) < 200_000
        t0 = time.monotonic()
        res = await upload(h, bomb.getvalue(), "bomb.xlsx")
        assert res.status_code == 413 and "unzips to" in res.json()["error"]
        assert time.monotonic() - t0 < 5
        # a body above the limit: 413 before it is read
        res = await upload(h, b"a,b\n" * (600 * 1024), "big.csv")
        assert res.status_code == 413
        # no file; empty file
        res = await h.client.post(
            "/api/v1/campaigns/sale/imports", data={"mapping": json.dumps(MAPPING)}, headers=ADMIN_H
        )
        assert res.status_code in (415, 422)
        res = await upload(h, b"", "empty.csv")
        assert res.status_code == 422 and "empty" in res.json()["error"]
        # without the admin token
        res = await h.client.post(
            "/api/v1/campaigns/sale/imports", files={"file": ("a.csv", b"x")}, data={}
        )
        assert res.status_code == 401
        assert ledger_count(h) == 0


def with_empty_rows(content: bytes, n: int) -> bytes:
    """An XLSX with `n` empty (formatted) rows after its data, as a sheet formatted down
    to the bottom has them; written straight into the sheet's XML (openpyxl would take a
    minute to write them)."""
    src = zipfile.ZipFile(io.BytesIO(content))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as out:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                text = data.decode()
                last = text.count("<row ")
                empties = "".join(
                    f'<row r="{r}"><c r="B{r}" t="inlineStr"/></row>'
                    for r in range(last + 1, last + 1 + n)
                )
                text = text.replace("</sheetData>", empties + "</sheetData>")
                text = text.replace("<sheetData/>", "<sheetData>" + empties + "</sheetData>")
                data = text.encode()
            out.writestr(info, data)
    return buf.getvalue()


async def test_a_million_empty_rows_end_quickly(settings) -> None:
    header = ",".join(HEADER) + "\n"
    good = "D001,10,s,g,b,p,2026-11-11 10:00\n"
    csv_content = (header + good + ",,,,,,\n" * 1_000_000).encode()
    row = ["D002", 10, "s", "g", "b", "p", "2026-11-11 10:00"]
    xlsx_content = with_empty_rows(xlsx_bytes([row]), 1_000_000)
    async with harness_for(settings) as h:
        await h.create_campaign()
        t0 = time.monotonic()
        body = (await upload(h, csv_content)).json()
        took = time.monotonic() - t0
        assert (body["rows"], body["accepted"]) == (1, 1)
        assert body["stopped"]["row"] == 1 + settings.imports.max_empty_run + 1
        assert took < 20, took
        t0 = time.monotonic()
        body = (await upload(h, xlsx_content, "empty.xlsx")).json()
        took_xlsx = time.monotonic() - t0
        assert (body["rows"], body["accepted"]) == (1, 1), body
        assert body["stopped"]["row"] == 1 + settings.imports.max_empty_run + 1
        assert took_xlsx < 20, took_xlsx
        # with the empty-run stop set beyond them, the row cap bounds the scan instead
        settings.imports.max_empty_run = 2_000_000
        t0 = time.monotonic()
        body = (await upload(h, csv_content)).json()
        took_cap = time.monotonic() - t0
        assert body["stopped"]["row"] == settings.imports.max_rows + 1
        assert "WARROOM_IMPORT_MAX_ROWS" in body["stopped"]["reason"]
    print(
        f"\n1,000,000 empty rows: CSV {took:.2f} s, XLSX {took_xlsx:.2f} s "
        f"({len(xlsx_content) / 1e6:.1f} MB); CSV read to the row cap {took_cap:.2f} s"
    )


class PeakRss:
    """The process's resident memory, sampled every 10 ms from a thread: the peak above
    the level it had when sampling began."""

    def __init__(self) -> None:
        import psutil

        self._proc = psutil.Process()
        self.base = self.peak = self._proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, self._proc.memory_info().rss)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def grew(self) -> int:
        return self.peak - self.base


async def test_200k_rows_stream_with_bounded_memory(settings) -> None:
    n = 200_000
    header = ",".join(HEADER) + "\n"
    lines = [header] + [
        f"E{i:07d},{(i % 500) + 1}.{i % 100:02d},s{i % 40},g{i % 300},b{i},p{i % 12},"
        f"2026-11-11 1{i % 7}:{i % 60:02d}:00\n"
        for i in range(n)
    ]
    content = "".join(lines).encode()
    del lines
    async with harness_for(settings) as h:
        await h.create_campaign()
        await upload(h, csv_bytes(ROWS[:1]).encode())  # warm: imports, pools, caches
        t0 = time.monotonic()
        with PeakRss() as rss:
            res = await upload(h, content, "big.csv")
        took = time.monotonic() - t0
        body = res.json()
        assert res.status_code == 200, body
        assert (body["rows"], body["accepted"], body["rejected"]) == (n, n, [])
        assert ledger_count(h) == n + 1
        # The file is 11 MB and its 200,000 events as dicts would be ~300 MB: the import
        # holds one chunk (5,000 rows) at a time.
        assert rss.grew < 150 * 1024 * 1024, rss.grew
        print(
            f"\n200,000-row CSV ({len(content) / 1e6:.1f} MB): {took:.1f} s "
            f"({n / took:,.0f} rows/s), peak RSS growth {rss.grew / 1e6:.1f} MB"
        )


HOSTILE = "<script>alert(1)</script><img src=x onerror=alert(2)>"


async def test_console_upload_preview_dry_run_and_import(settings) -> None:
    import re

    async with harness_for(settings) as h:
        await h.create_campaign()
        c = h.client
        assert (await c.post("/admin/login", data={"token": ADMIN})).status_code == 303
        page = await c.get("/admin/c/sale/imports")
        assert page.status_code == 200 and "导入表格" in page.text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        hx = {"X-CSRF-Token": csrf, "HX-Request": "true"}
        rows = [*ROWS, ["A004", "5", HOSTILE, "g1", "b4", "p1", "2026-11-11 10:08"]]
        content = csv_bytes(rows).encode("gb18030")
        # without the CSRF token: refused, nothing kept
        res = await c.post(
            "/admin/c/sale/imports/preview", files={"file": (f"{HOSTILE}.csv", content)}
        )
        assert res.status_code == 403
        res = await c.post(
            "/admin/c/sale/imports/preview",
            files={"file": (f"{HOSTILE}.csv", content)},
            headers=hx,
        )
        assert res.status_code == 200, res.text
        html = res.text
        assert "<script>alert" not in html and "&lt;script&gt;" in html
        assert "订单号" in html and "1,288.00" in html and "gb18030" in html
        upload_id = re.search(r'name="upload_id" value="([^"]+)"', html).group(1)
        # the columns were guessed from the header
        assert re.search(r'<option value="订单号" selected>', html)
        fields = {
            "upload_id": upload_id,
            "filename": f"{HOSTILE}.csv",
            "type": "order",
            "col_order_id": "订单号",
            "col_amount_fen": "金额(元)",
            "scale_amount_fen": "100",
            "col_seller_id": "团长",
            "col_group_id": "群",
            "col_buyer_id": "买家",
            "col_product_id": "商品",
            "col_ts": "下单时间",
        }

        async def run(dry: bool) -> str:
            res = await c.post(
                "/admin/c/sale/imports/run",
                data={**fields, "dry_run": "true" if dry else "false"},
                headers=hx,
            )
            assert res.status_code == 200, res.text
            run_id = re.search(r"/imports/runs/(\d+)", res.text)
            text = res.text
            for _ in range(300):
                if 'data-state="running"' not in text:
                    return text
                await asyncio.sleep(0.1)
                polled = await c.get(f"/admin/c/sale/imports/runs/{run_id.group(1)}")
                assert polled.status_code == 200, (polled.status_code, polled.headers, polled.text)
                text = polled.text
            raise AssertionError(text)

        done = await run(dry=True)
        assert 'data-state="done"' in done and "试运行没有写入任何数据" in done
        assert ledger_count(h) == 0
        done = await run(dry=False)
        assert 'data-state="done"' in done and ledger_count(h) == 4
        assert bodies(h)["order:A004"]["seller_id"] == HOSTILE
        # the file is gone after the import; the list shows both runs
        again = await c.post(
            "/admin/c/sale/imports/run", data={**fields, "dry_run": "false"}, headers=hx
        )
        assert again.status_code == 404
        page = await c.get("/admin/c/sale/imports")
        assert page.text.count("<tr><td>") >= 2 and "&lt;script&gt;" in page.text
        # a wrong mapping comes back as the form with the error
        res = await c.post(
            "/admin/c/sale/imports/preview", files={"file": ("y.csv", content)}, headers=hx
        )
        upload_id = re.search(r'name="upload_id" value="([^"]+)"', res.text).group(1)
        bad = {**fields, "upload_id": upload_id, "col_buyer_id": "", "dry_run": "true"}
        res = await c.post("/admin/c/sale/imports/run", data=bad, headers=hx)
        assert res.status_code == 422 and "buyer_id is required" in res.text
