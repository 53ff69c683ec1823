"""Reading an uploaded sheet, row by row: CSV (UTF-8 with or without BOM, GB18030) and
XLSX (openpyxl, read-only streaming). Nothing here holds more than one row at a time.

Hostile files are bounded before they are read:
- an XLSX is a zip: its entries' declared sizes must add up to at most
  `max_unzipped_bytes`, checked before openpyxl opens it. Python's zipfile never
  inflates an entry beyond its declared size (it stops there, and a CRC mismatch is an
  error), so the declared sizes bound the work: a zip bomb is refused, not inflated;
- formulas are never evaluated: a formula cell reads as the value the file cached
  (openpyxl `data_only=True`), or as empty when the program that wrote it cached none;
- at most `max_rows` rows after the header are scanned, and a run of `max_empty_run`
  empty rows ends the sheet (a sheet formatted down to row 1,048,576 is 1,000,000 empty
  rows: openpyxl parses each one, at about 20 µs to 50 µs a row); either stop is said in
  the result;
- text that is neither UTF-8 nor GB18030 is refused, with no guessing.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO

from warroom.core.imports import MAX_COLUMNS, Cell, header_names, is_empty

CSV_FIELD_LIMIT = 64 * 1024  # one cell's characters
PROBE_CHUNK = 1024 * 1024


class SheetError(ValueError):
    """The file cannot be read as a sheet (422, or 413 for `too_large`)."""

    def __init__(self, message: str, too_large: bool = False) -> None:
        super().__init__(message)
        self.too_large = too_large


@dataclass(frozen=True)
class SheetLimits:
    max_rows: int = 300_000
    max_empty_run: int = 1_000
    max_unzipped_bytes: int = 256 * 1024 * 1024
    max_zip_entries: int = 2_000


@dataclass
class Stop:
    """Why reading ended before the sheet did: rows from `row` on were not read."""

    row: int
    reason: str


@dataclass
class Sheet:
    kind: str  # "csv" | "xlsx"
    encoding: str | None
    header: list[str]
    _rows: Iterator[list[Cell]] = field(repr=False)
    limits: SheetLimits = field(default_factory=SheetLimits)
    stopped: Stop | None = None
    scanned: int = 0  # rows after the header looked at, empty ones included

    def close(self) -> None:
        """Stop reading (before the file is closed under the reader)."""
        close = getattr(self._rows, "close", None)
        if close is not None:
            close()

    def rows(self) -> Iterator[tuple[int, list[Cell]]]:
        """(row number, cells) of each non-empty row; numbered from 1 after the header,
        empty rows included in the numbering, as a spreadsheet shows them (plus one)."""
        empty_run = 0
        for n, cells in enumerate(self._rows, start=1):
            if n > self.limits.max_rows:
                self.stopped = Stop(
                    n,
                    f"a sheet may have at most {self.limits.max_rows} rows after the header"
                    " (WARROOM_IMPORT_MAX_ROWS): rows from here on were not read; split the file",
                )
                return
            self.scanned = n
            if is_empty(cells):
                empty_run += 1
                if empty_run >= self.limits.max_empty_run:
                    self.stopped = Stop(
                        n + 1,
                        f"{empty_run} empty rows in a row end the sheet"
                        " (WARROOM_IMPORT_MAX_EMPTY_RUN): rows from here on were not read",
                    )
                    return
                continue
            empty_run = 0
            yield n, cells


def sniff_kind(filename: str, head: bytes) -> str:
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    name = filename.lower()
    if name.endswith((".xlsx", ".xlsm")):
        raise SheetError("the file is named .xlsx but is not an XLSX workbook (not a zip)")
    if name.endswith(".xls"):
        raise SheetError("old .xls workbooks are not read: save it as .xlsx or .csv")
    return "csv"


@contextlib.contextmanager
def open_sheet(f: IO[bytes], filename: str, limits: SheetLimits) -> Iterator[Sheet]:
    """The sheet in `f` (seekable), with its header read; its rows stream from the file."""
    f.seek(0)
    head = f.read(8)
    f.seek(0)
    if not head:
        raise SheetError("the file is empty")
    if sniff_kind(filename, head) == "xlsx":
        with _xlsx(f, limits) as sheet:
            try:
                yield sheet
            finally:
                sheet.close()
    else:
        sheet = _csv(f, limits)
        try:
            yield sheet
        finally:
            sheet.close()


# -- CSV -------------------------------------------------------------------------------


def detect_encoding(f: IO[bytes]) -> str:
    """utf-8-sig (a BOM), utf-8, or gb18030: the first that decodes the whole file,
    read in chunks. Anything else is refused."""
    f.seek(0)
    if f.read(3) == codecs.BOM_UTF8:
        f.seek(0)
        if _decodes(f, "utf-8-sig"):
            return "utf-8-sig"
        raise SheetError("the file starts with a UTF-8 BOM but is not valid UTF-8")
    for encoding in ("utf-8", "gb18030"):
        f.seek(0)
        if _decodes(f, encoding):
            return encoding
    raise SheetError("the file is neither UTF-8 nor GB18030 text (nor an XLSX workbook)")


def _decodes(f: IO[bytes], encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    try:
        while chunk := f.read(PROBE_CHUNK):
            if b"\x00" in chunk:
                return False  # binary, or UTF-16: not a text sheet we read
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    finally:
        f.seek(0)
    return True


def _csv(f: IO[bytes], limits: SheetLimits) -> Sheet:
    encoding = detect_encoding(f)
    text = io.TextIOWrapper(f, encoding=encoding, newline="")
    first = text.readline()
    text.seek(0)
    # The delimiter the header line uses most: `,` (a CSV), a tab (copied from a sheet) or `;`.
    delimiter = max(",\t;", key=first.count)
    csv.field_size_limit(CSV_FIELD_LIMIT)
    reader = csv.reader(text, delimiter=delimiter)

    def rows() -> Iterator[list[Cell]]:
        try:
            for record in reader:
                yield list(record[:MAX_COLUMNS])
        except csv.Error as exc:
            raise SheetError(f"CSV line {reader.line_num}: {exc}") from None
        finally:
            text.detach()  # leave `f` open for its owner

    it = rows()
    header = _header(it)
    return Sheet("csv", encoding, header, it, limits)


def _header(it: Iterator[list[Cell]]) -> list[str]:
    for cells in it:
        if not is_empty(cells):
            return header_names(cells)
    raise SheetError("the sheet has no header row (it is empty)")


# -- XLSX ------------------------------------------------------------------------------


def check_zip(f: IO[bytes], limits: SheetLimits) -> None:
    """Refuse a zip bomb by the entries' declared sizes (zipfile reads no further)."""
    try:
        with zipfile.ZipFile(f) as z:
            infos = z.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise SheetError(f"not a readable XLSX workbook: {exc}") from None
    finally:
        f.seek(0)
    if len(infos) > limits.max_zip_entries:
        raise SheetError(f"the workbook has more than {limits.max_zip_entries} parts")
    total = sum(i.file_size for i in infos)
    if total > limits.max_unzipped_bytes:
        raise SheetError(
            f"the workbook unzips to {total} bytes, more than {limits.max_unzipped_bytes}"
            " (WARROOM_IMPORT_MAX_UNZIPPED_BYTES)",
            too_large=True,
        )


@contextlib.contextmanager
def _xlsx(f: IO[bytes], limits: SheetLimits) -> Iterator[Sheet]:
    import openpyxl

    check_zip(f, limits)
    try:
        wb = openpyxl.load_workbook(f, read_only=True, data_only=True, keep_links=False)
    except Exception as exc:  # openpyxl raises many kinds for a malformed workbook
        raise SheetError(f"not a readable XLSX workbook: {type(exc).__name__}: {exc}") from None
    try:
        ws = wb.worksheets[0] if wb.worksheets else None
        if ws is None:
            raise SheetError("the workbook has no worksheet")
        # The <dimension> a file declares may be wrong (or huge): ignore it, and read
        # at most MAX_COLUMNS columns of each row.
        ws.reset_dimensions()
        cells = ws.iter_rows(values_only=True, max_col=MAX_COLUMNS)

        def rows() -> Iterator[list[Cell]]:
            try:
                for values in cells:
                    yield list(values)
            except SheetError:
                raise
            except Exception as exc:
                raise SheetError(
                    f"the worksheet is malformed: {type(exc).__name__}: {exc}"
                ) from None

        it = rows()
        header = _header(it)
        yield Sheet("xlsx", None, header, it, limits)
    finally:
        wb.close()
