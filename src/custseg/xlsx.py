"""Large worksheets read on every core: calamine parses a sheet on one thread, so a big sheet's
XML is cut at row boundaries into a few stored (uncompressed) workbooks that calamine parses in
parallel threads (fastexcel releases the GIL).

Each part holds only what calamine reads for one sheet's cells (:data:`PART_MEMBERS`: the
workbook, its relationships, styles and shared strings), and every part after the first
repeats the header row just above its first row, so all parts have the same columns and the
concatenated rows are exactly those of a single read. Anything unexpected — no
``<sheetData>``, rows without numbers, parts whose columns disagree — makes :func:`plan` or
:func:`read` give up (return None) and the caller reads the sheet the ordinary way, as it does
when ``ReadConfig.parallel_excel`` is off (``--no-parallel-excel``). Measured on the
541,909-line Online Retail workbook with 2 cores: 0.8 s instead of 1.45 s (docs/benchmarks.md).

It also answers what the package holds without inflating it whole, so a workbook can be judged
before calamine parses it: the declared sizes of a sheet's XML and of the shared strings
(:func:`declared_sizes`), and a sheet's first rows (:func:`head`). Whatever is inflated here
stops at a limit, because a zip's declared sizes can lie.
"""

from __future__ import annotations

import os
import re
import struct
import tempfile
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any
from xml.etree import ElementTree

import pyarrow as pa

#: Sheets with less XML than this are read whole: splitting costs more than it saves.
SPLIT_ABOVE = 24 * 2**20
#: Bytes of sheet XML per part. Many parts beat one per core: the first starts parsing after
#: a small share is inflated, the last leaves no core idle at the end, and calamine parses
#: small parts faster per byte. On 2 cores the real workbook (212 MB of XML) reads in 0.94 s
#: as 2 parts and 0.79 s as 12–24 parts; a generated 397 MB sheet in 2.02 s and 1.49 s.
PART_BYTES = 16 * 2**20
#: Every part parses the shared-strings table again, so parts are fewer when it is large.
MAX_PARTS = 64
#: Parts parsed at once: one per core, at most this many (each holds its part's cells while
#: it parses; more threads than cores only wait for one).
MAX_THREADS = 8
#: The members a part copies besides the sheet (compared in lower case): what calamine reads
#: to open a workbook (the workbook and its relationships, the shared strings, the styles that
#: tell dates from numbers) and the package's own two. Other sheets, pivot caches, images,
#: drawings, comments, themes and printer settings are not needed to read cells.
PART_MEMBERS = frozenset({
    "[content_types].xml", "_rels/.rels", "xl/workbook.xml", "xl/_rels/workbook.xml.rels",
    "xl/styles.xml", "xl/sharedstrings.xml",
})

_MAIN_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_REL_NS = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_PKG_REL_NS = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_ROW = re.compile(rb'<row\b[^>]*?\sr="(\d+)"')
_CELL_REF = re.compile(rb'(<c\b[^>]*?\sr="[A-Z]+)\d+"')
_DIMENSION = re.compile(rb"<dimension\b[^>]*/>")


@dataclass(frozen=True)
class Plan:
    """Where a sheet's XML sits in its workbook, and how many parts to cut it into."""

    path: Path
    sheet: str
    member: zipfile.ZipInfo
    parts: int
    #: Most bytes of XML inflated before :class:`TooLargeError` (None: no limit).
    limit: int | None = None


def workers() -> int:
    """Cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def plan(path: Path, sheet: str, limit: int | None = None) -> Plan | None:
    """A split plan for ``sheet`` of the .xlsx/.xlsm at ``path``, or None when a plain read is
    the better (or the only safe) way: a small sheet, one core, or an unusual package.

    ``limit`` bounds the sheet's XML inflated by :func:`read`, and the other members each part
    copies (beyond it the plain read, which does not copy them, is used)."""
    cores = workers()
    if cores < 2 or path.suffix.lower() not in (".xlsx", ".xlsm"):
        return None
    try:
        with zipfile.ZipFile(path) as book:
            member = book.getinfo(_sheet_member(book, sheet))
            strings = _strings_size(book)
            copied = sum(i.file_size for i in _part_members(book))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, ElementTree.ParseError):
        return None
    if member.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        return None
    if member.file_size < SPLIT_ABOVE or (limit is not None and copied > limit):
        return None
    parts = -(-member.file_size // PART_BYTES)
    if strings:  # the strings parsed again per part stay under half the sheet's own work
        parts = min(parts, max(cores, member.file_size // (2 * strings)))
    return Plan(path, sheet, member, max(2, min(parts, MAX_PARTS)), limit)


def _sheet_member(book: zipfile.ZipFile, sheet: str) -> str:
    """The package path of the worksheet named ``sheet`` (workbook.xml → its relationships)."""
    workbook = ElementTree.fromstring(book.read("xl/workbook.xml"))
    rel_id = next((s.get(f"{_REL_NS}id") for s in workbook.iter(f"{_MAIN_NS}sheet")
                   if s.get("name") == sheet), None)
    rels = ElementTree.fromstring(book.read("xl/_rels/workbook.xml.rels"))
    target = next((r.get("Target") for r in rels.iter(f"{_PKG_REL_NS}Relationship")
                   if r.get("Id") == rel_id), None)
    if target is None:
        raise KeyError(f"no worksheet named {sheet!r}")
    if target.startswith("/"):
        return target.lstrip("/")
    return str(PurePosixPath("xl") / target)


def declared_sizes(path: Path, sheet: str | None) -> tuple[int, int] | None:
    """The declared uncompressed sizes of ``sheet``'s data (0 for None) and of the shared
    strings, read from the zip directory without inflating anything; None when the workbook is
    not a zip (a legacy .xls is not compressed, so its size on disk is what is read).

    A sheet whose part cannot be found from workbook.xml (.xlsb, .ods, an unusual package)
    counts as the largest sheet part, or content.xml, which holds every sheet of an .ods.
    """
    try:
        with zipfile.ZipFile(path) as book:
            strings = _strings_size(book)
            if sheet is None:
                return 0, strings
            try:
                return book.getinfo(_sheet_member(book, sheet)).file_size, strings
            except (KeyError, ValueError, ElementTree.ParseError):
                sheets = [i.file_size for i in book.infolist()
                          if i.filename.startswith("xl/worksheets/")
                          or i.filename == "content.xml"]
                return max(sheets, default=0), strings
    except (OSError, zipfile.BadZipFile):
        return None


def check_inflated(path: Path, sheet: str | None, limit: int) -> None:
    """Inflate ``sheet``'s XML (the shared strings when None) and drop it, counting the bytes,
    because the sizes the package declares are only claims and calamine does not hold to them.

    Raises :class:`TooLargeError` as soon as more than ``limit`` bytes come out. Cheap beside
    calamine's parse (ISA-L inflates about 1 GB/s) and flat in memory; packages this module
    cannot read are left to calamine.
    """
    try:
        with zipfile.ZipFile(path) as book:
            members = ([book.getinfo(_sheet_member(book, sheet))] if sheet is not None else
                       [i for i in book.infolist()
                        if i.filename.lower().endswith("sharedstrings.xml")])
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, ElementTree.ParseError):
        return
    for member in members:
        if member.compress_type != zipfile.ZIP_DEFLATED:
            continue  # stored: what is on disk is what is read
        try:
            stream = _Stream(Plan(path, sheet or "", member, 1, limit))
            while not stream.done:
                stream.take(_HEAD)
        except _UnsplittableError:
            return  # damaged: calamine says so in its own words


def sheet_names(path: Path) -> list[str] | None:
    """The sheet names of the .xlsx/.xlsm at ``path``, in order, from workbook.xml alone
    (calamine parses the shared strings when it opens a workbook); None for other packages."""
    try:
        with zipfile.ZipFile(path) as book:
            workbook = ElementTree.fromstring(book.read("xl/workbook.xml"))
    except (OSError, KeyError, zipfile.BadZipFile, ElementTree.ParseError):
        return None
    return [s.get("name", "") for s in workbook.iter(f"{_MAIN_NS}sheet")]


@dataclass(frozen=True)
class Head:
    """A sheet's first rows, as calamine would number them (index = sheet row − 1)."""

    #: Cell values by column index: text (str), numbers (float), booleans, or None.
    rows: list[list[Any]]
    #: Rows the sheet spans by its ``<dimension>`` (None when it does not say).
    height: int | None


#: At most this much of a sheet's XML is inflated to find its first rows.
_HEAD_LIMIT = 16 * 2**20


def head(path: Path, sheet: str, rows: int) -> Head | None:
    """The first ``rows`` rows of ``sheet`` from the start of its XML only (a few kilobytes
    are inflated, not the sheet), with shared strings resolved; None when the package is not
    an .xlsx laid out as expected (the caller then asks calamine)."""
    try:
        with zipfile.ZipFile(path) as book:
            cells, height = _first_rows(book, _sheet_member(book, sheet), rows)
            wanted = {int(v) for row in cells for kind, v in row.values() if kind == "s"}
            strings = _shared_strings(book, wanted) if wanted else {}
    except (OSError, KeyError, ValueError, IndexError, zipfile.BadZipFile,
            ElementTree.ParseError):
        return None
    table = []
    for row in cells:
        values: list[Any] = [None] * (max(row) + 1 if row else 0)
        for col, (kind, value) in row.items():
            values[col] = strings.get(int(value)) if kind == "s" else _cell_value(kind, value)
        table.append(values)
    return Head(table, height)


def _local(tag: str) -> str:
    """An element's name without its namespace (strict OOXML uses another one)."""
    return tag.rsplit("}", 1)[-1]


def _first_rows(book: zipfile.ZipFile, member: str,
                rows: int) -> tuple[list[dict[int, tuple[str, str]]], int | None]:
    """Raw cells ``{column: (type, text)}`` of the first ``rows`` sheet rows, and the height
    the sheet's ``<dimension>`` gives."""
    parser = ElementTree.XMLPullParser(events=("start", "end"))
    found: list[dict[int, tuple[str, str]]] = [{} for _ in range(rows)]
    height, number, taken = None, 0, 0
    with book.open(member) as xml:
        while taken < _HEAD_LIMIT and (chunk := xml.read(1 << 16)):
            taken += len(chunk)
            parser.feed(chunk)
            for event, element in parser.read_events():
                name = _local(element.tag)
                if event == "start" and name == "dimension":
                    height = _height(element.get("ref", ""))
                if event != "end" or name != "row":
                    continue
                number = int(element.get("r", number + 1))
                if number > rows:
                    return found, height
                found[number - 1] = _row_cells(element)
                element.clear()
    return found, height


def _row_cells(row: ElementTree.Element) -> dict[int, tuple[str, str]]:
    cells: dict[int, tuple[str, str]] = {}
    col = -1
    for cell in row:
        if _local(cell.tag) != "c":
            continue
        ref = cell.get("r")
        col = _column(ref) if ref else col + 1
        kind = cell.get("t", "n")
        if kind == "inlineStr":
            text = "".join(t.text or "" for t in cell.iter() if _local(t.tag) == "t")
        else:
            text = next((v.text or "" for v in cell if _local(v.tag) == "v"), "")
        if text or kind == "inlineStr":
            cells[col] = (kind, text)
    return cells


def _column(ref: str) -> int:
    """Column index of a cell reference ("C7" → 2)."""
    index = 0
    for char in ref:
        if not char.isalpha():
            break
        index = index * 26 + ord(char.upper()) - 64
    return index - 1


def _height(ref: str) -> int | None:
    """Rows spanned by a ``<dimension ref="A1:H541910">``."""
    numbers = [int(n) for n in re.findall(r"\d+", ref)]
    return numbers[-1] - numbers[0] + 1 if numbers else None


def _cell_value(kind: str, text: str) -> Any:
    if kind in ("inlineStr", "str"):
        return text
    if kind == "b":
        return text == "1"
    if kind == "e":
        return None
    if kind == "d":  # an ISO 8601 date cell
        return datetime.fromisoformat(text)
    return float(text)  # a number, or a date as its serial number


def _shared_strings(book: zipfile.ZipFile, wanted: set[int]) -> dict[int, str]:
    """The shared strings numbered in ``wanted``, read only as far as the last of them."""
    member = next((i for i in book.infolist()
                   if i.filename.lower().endswith("sharedstrings.xml")), None)
    last, index, found = max(wanted), 0, {}
    if member is None:  # cells refer to a table that is not there: calamine will say so
        return found
    parser = ElementTree.XMLPullParser(events=("start", "end"))
    root: ElementTree.Element | None = None
    with book.open(member) as xml:
        while chunk := xml.read(1 << 16):
            parser.feed(chunk)
            for event, element in parser.read_events():
                root = element if root is None else root
                if event != "end" or _local(element.tag) != "si":
                    continue
                if index in wanted:
                    found[index] = _string_text(element)
                root.clear()  # memory stays flat however far the last wanted string is
                index += 1
                if index > last:
                    return found
    return found


def _string_text(item: ElementTree.Element) -> str:
    """The text of a shared string, rich-text runs joined, phonetic hints left out."""
    runs = [r for r in item if _local(r.tag) == "r"]
    if runs:
        parts = [next((t.text for t in r if _local(t.tag) == "t"), "") for r in runs]
    else:
        parts = [next((t.text for t in item if _local(t.tag) == "t"), "")]
    return "".join(p or "" for p in parts)


def read(split: Plan, dtypes: dict[str, str], coercion: str) -> pa.Table | None:
    """Read the planned sheet in parts on parallel threads, or None if it cannot be split.

    Each part is parsed as soon as the XML it needs is inflated, while the rest is inflated.
    fastexcel errors (for instance a column mixing types under strict coercion) propagate as
    they would from a plain read; a column typed differently in different parts raises
    :class:`MixedTypesError`, so the caller can handle both alike.
    """
    others = _other_members(split)
    threads = min(split.parts, workers(), MAX_THREADS)
    with tempfile.TemporaryDirectory(prefix="custseg-xlsx-") as tmp, \
            ThreadPoolExecutor(max_workers=threads) as pool:
        futures = []
        try:
            for i, piece in enumerate(_pieces(split)):
                part = Path(tmp) / f"part{i}.xlsx"
                _write_part(split, others, part, piece)
                futures.append(pool.submit(_load, part, split.sheet, dtypes, coercion))
        except (_UnsplittableError, TooLargeError) as exc:
            for future in futures:
                future.cancel()
            if isinstance(exc, TooLargeError):
                raise
            return None
        tables = [f.result() for f in futures]
    if len({tuple(t.column_names) for t in tables}) > 1:
        return None
    return _concat(tables)


class TooLargeError(ValueError):
    """A member inflates to more than the limit, whatever size the package declares for it."""

    def __init__(self, member: str, limit: int) -> None:
        super().__init__(f"{member} inflates to more than {limit:,} bytes")
        self.member = member
        self.limit = limit


class MixedTypesError(ValueError):
    """Parts of a sheet hold different cell types in one column (as a single strict read
    would find over the whole column)."""

    def __init__(self, column: str) -> None:
        super().__init__(f"column {column} mixes cell types across the sheet")
        self.column = column


def _concat(tables: list[pa.Table]) -> pa.Table:
    """The parts as one table, typed as a single read would type it: a column empty in a part
    (which fastexcel then types as text) takes the type the other parts agree on.

    Raises
    ------
    MixedTypesError
        When parts disagree on a column's type.
    """
    columns = []
    for i, name in enumerate(tables[0].column_names):
        parts = [t.column(i) for t in tables]
        kinds = {c.type for c in parts if c.null_count < len(c)}
        if len(kinds) > 1:
            raise MixedTypesError(name)
        kind = kinds.pop() if kinds else parts[0].type
        columns.append(pa.chunked_array(
            [chunk for c in parts for chunk in (c if c.type == kind else c.cast(kind)).chunks],
            type=kind))
    # One chunk per column: DuckDB scans it faster (0.15 s vs 0.21 s for cleaning the real
    # workbook from 13 chunks), and combining costs 5 ms.
    return pa.table(columns, names=tables[0].column_names).combine_chunks()


def _load(file: Path, sheet: str, dtypes: dict[str, str], coercion: str) -> pa.Table:
    import fastexcel

    batch = fastexcel.read_excel(str(file)).load_sheet(
        sheet, dtypes=dtypes or None, dtype_coercion=coercion, schema_sample_rows=None,
        eager=True)
    return pa.Table.from_batches([batch])


class _UnsplittableError(Exception):
    """The sheet's XML is not laid out the way the parts reader needs."""


@dataclass(frozen=True)
class _Piece:
    prefix: bytes
    header: bytes
    rows: list[memoryview]
    suffix: bytes


class _Stream:
    """The sheet's XML, inflated block by block. ISA-L inflates about twice as fast as zlib
    (0.18 s vs 0.37 s for 212 MB)."""

    def __init__(self, split: Plan) -> None:
        member = split.member
        with open(split.path, "rb") as fh:
            fh.seek(member.header_offset)
            header = fh.read(30)
            if header[:4] != b"PK\x03\x04":
                raise _UnsplittableError(f"bad local header for {member.filename}")
            name_len, extra_len = struct.unpack("<HH", header[26:30])
            fh.seek(member.header_offset + 30 + name_len + extra_len)
            self.pending = fh.read(member.compress_size)
        self.inflater: Any = None
        if member.compress_type == zipfile.ZIP_DEFLATED:
            try:
                from isal import isal_zlib as inflater
            except ImportError:  # pragma: no cover - isal is a dependency; zlib the fallback
                import zlib as inflater
            self.inflater = inflater.decompressobj(-15)
        self.done = False
        self.name = member.filename
        self.limit = split.limit
        self.inflated = 0

    def take(self, size: int | None = None) -> bytes:
        """The next ``size`` bytes of XML (fewer at the end), or all the rest.

        Raises :class:`TooLargeError` as soon as more than the limit has come out.
        """
        if self.limit is not None:
            # One byte past the limit is enough to know the limit is passed.
            room = self.limit - self.inflated + 1
            size = room if size is None else min(size, room)
        if self.inflater is None:
            block = self.pending if size is None else self.pending[:size]
            self.pending = self.pending[len(block):]
            self.done = not self.pending
            return self._counted(block)
        block = self.inflater.decompress(self.pending, size or 0)
        self.pending = self.inflater.unconsumed_tail
        if size is None:
            tail = self.inflater.flush()
            block = block + tail if tail else block
        self.done = self.inflater.eof
        if not block and not self.done:
            raise _UnsplittableError("the sheet's compressed XML is truncated")
        return self._counted(block)

    def _counted(self, block: bytes) -> bytes:
        # The declared size passed the caller's check, but it is only a claim: count what
        # really comes out.
        self.inflated += len(block)
        if self.limit is not None and self.inflated > self.limit:
            raise TooLargeError(self.name, self.limit)
        return block


_HEAD = 16 * 2**20  # the header row must end within this many bytes
_LOOKAHEAD = 4 * 2**20  # bytes inflated past a cut target, to find a row start there
_END_ONLY = b"</sheetData></worksheet>"


def _pieces(split: Plan) -> Iterator[_Piece]:
    """The sheet XML as ``split.parts`` pieces of whole, consecutively numbered rows, each
    yielded as soon as it is inflated (later parts are inflated while earlier ones parse).

    Raises :class:`_UnsplittableError` when the XML is not laid out as expected.
    """
    stream = _Stream(split)
    block = stream.take(_HEAD)
    start = block.find(b"<sheetData>")
    if start < 0:
        raise _UnsplittableError("no <sheetData> element in the first block")
    start += len(b"<sheetData>")
    first = _ROW.match(block, start)
    header_end = block.find(b"</row>", start) + len(b"</row>")
    if first is None or header_end < start + len(b"</row>") \
            or block.count(b"<row ", start, header_end) != 1:
        raise _UnsplittableError("no numbered header row")
    header_number = int(first.group(1))
    header = block[start:header_end]
    prefix = _DIMENSION.sub(b"", block[:start])
    total = split.member.file_size
    head, pos, offset = header, header_end, 0  # piece start in `block`; `block` start in XML
    views: list[memoryview] = []  # the current piece's rows in earlier blocks
    for i in range(1, split.parts):
        target = start + (total - start) * i // split.parts
        while offset + len(block) < target + _LOOKAHEAD and not stream.done:
            views.append(memoryview(block)[pos:])
            offset, pos = offset + len(block), 0
            block = stream.take(target + _LOOKAHEAD - offset)
        limit = len(block) if stream.done else len(block) - _LOOKAHEAD // 2
        cut = _row_start(block, max(target - offset, pos + 1), limit)
        if cut is None:
            raise _UnsplittableError("no row boundary to cut at")
        yield _Piece(prefix, head, [*views, memoryview(block)[pos:cut]], _END_ONLY)
        number = int(_ROW.match(block, cut).group(1))  # type: ignore[union-attr]
        head, pos, views = _renumber(header, header_number, number - 1), cut, []
    rest = stream.take()
    if rest:
        views.append(memoryview(block)[pos:])
        block, pos = rest, 0
    end = block.rfind(b"</sheetData>", pos)
    if end < 0:
        raise _UnsplittableError("no </sheetData> in the last block")
    yield _Piece(prefix, head, [*views, memoryview(block)[pos:end]], block[end:])


def _row_start(xml: bytes, at: int, end: int, tries: int = 1000) -> int | None:
    """Start of the first row at or after ``at`` that directly follows its predecessor
    (number n after n − 1), so no empty row is lost at the cut."""
    for _ in range(tries):
        pos = xml.find(b"<row ", at, end)
        if pos < 0:
            return None
        this = _ROW.match(xml, pos)
        before = xml.rfind(b"<row ", 0, pos)
        prev = _ROW.match(xml, before) if before >= 0 else None
        if this and prev and int(this.group(1)) == int(prev.group(1)) + 1:
            return pos
        at = pos + 1
    return None


def _renumber(header: bytes, old: int, new: int) -> bytes:
    """The header row moved from row ``old`` to row ``new`` (the row and its cell refs)."""
    head = header.replace(f' r="{old}"'.encode(), f' r="{new}"'.encode(), 1)
    return _CELL_REF.sub(lambda m: m.group(1) + str(new).encode() + b'"', head)


def _part_members(book: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    """The members every part copies besides the sheet (:data:`PART_MEMBERS`)."""
    return [i for i in book.infolist() if i.filename.lower() in PART_MEMBERS]


def _other_members(split: Plan) -> list[tuple[zipfile.ZipInfo, bytes]]:
    """The members every part copies besides the sheet, read once for all parts."""
    with zipfile.ZipFile(split.path) as book:
        return [(info, book.read(info)) for info in _part_members(book)]


def _strings_size(book: zipfile.ZipFile) -> int:
    """Declared size of the shared-strings table (0 when the workbook has none)."""
    return sum(i.file_size for i in book.infolist()
               if i.filename.lower().endswith(("sharedstrings.xml", "sharedstrings.bin")))


def _write_part(split: Plan, others: list[tuple[zipfile.ZipInfo, bytes]], file: Path,
                piece: _Piece) -> None:
    """A copy of the workbook whose sheet holds one piece, stored uncompressed (calamine reads
    stored members faster, and writing them costs only a copy and a CRC)."""
    with zipfile.ZipFile(file, "w") as out:
        for info, data in others:
            out.writestr(info.filename, data, compress_type=zipfile.ZIP_STORED)
        with out.open(split.member.filename, "w", force_zip64=True) as sheet:
            for chunk in (piece.prefix, piece.header, *piece.rows, piece.suffix):
                sheet.write(chunk)
