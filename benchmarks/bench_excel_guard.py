"""Workbooks that inflate to gigabytes (decompression bombs): how fast custseg refuses them,
at what peak memory.

Run: ``python benchmarks/bench_excel_guard.py [--keep DIR] [--unguarded]``. Needs ~30 s of
CPU to compress the bombs and a few tens of MB of disk; nothing from ../shared/data.
``--unguarded`` also loads the shared-strings bomb with the limit raised out of the way, to
show what the check saves (about 3 GB of memory; the sheet bomb is not run so, as it aborts).

Three workbooks are generated with zipfile (ZIP_DEFLATED, written as a stream, so this script
stays small in memory) in a temporary folder, deleted afterwards:

- ``sheet``: a 13 MB workbook whose sheet's XML inflates to 3 GB (one header row, then the same
  line repeated). Before the size check, calamine aborted the process trying to allocate 5 GB.
- ``strings``: a workbook whose shared strings inflate to 2.1 GB. It took 3 GB of memory.
- ``understated``: the sheet inflates to 2.1 GB while the zip declares 10 MB, so only
  inflating it (and stopping at the limit) can tell.

Each is loaded with ``custseg.load`` and the default limit in a fresh process, which prints its
peak RSS, the time to the refusal and the message; a small valid workbook gives the reference
peak of a process that imports custseg and reads a workbook.
"""

from __future__ import annotations

import argparse
import json
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

GB = 10**9
HEADER = ("InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice",
          "CustomerID", "Country")
MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
DOC_RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"

PACKAGE = {
    "[Content_Types].xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" '
        'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        '<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
        '</Types>'),
    "_rels/.rels": (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="{RELS}">'
        f'<Relationship Id="rId1" Type="{DOC_RELS}/officeDocument" Target="xl/workbook.xml"/>'
        '</Relationships>'),
    "xl/workbook.xml": (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><workbook xmlns="{MAIN}" '
        f'xmlns:r="{DOC_RELS}"><sheets><sheet name="Orders" sheetId="1" r:id="rId1"/>'
        '</sheets></workbook>'),
    "xl/_rels/workbook.xml.rels": (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="{RELS}">'
        f'<Relationship Id="rId1" Type="{DOC_RELS}/worksheet" Target="worksheets/sheet1.xml"/>'
        f'<Relationship Id="rId2" Type="{DOC_RELS}/sharedStrings" '
        'Target="sharedStrings.xml"/></Relationships>'),
}


def inline(text: str) -> str:
    return f'<c t="inlineStr"><is><t>{text}</t></is></c>'


def sheet_xml(rows_bytes: int, shared: bool) -> Iterator[bytes]:
    """A sheet of the Online Retail header and ~``rows_bytes`` of one repeated line; with
    ``shared``, the description is shared string 0."""
    yield (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><worksheet xmlns="{MAIN}">'
           f'<sheetData><row r="1">{"".join(inline(h) for h in HEADER)}</row>').encode()
    text = '<c t="s"><v>0</v></c>' if shared else inline("WHITE HANGING HEART T-LIGHT HOLDER")
    row = (f"<row>{inline('536365')}{inline('85123A')}{text}<c><v>6</v></c>"
           f"<c><v>40513.35</v></c><c><v>2.55</v></c><c><v>17850</v></c>"
           f"{inline('United Kingdom')}</row>").encode()
    yield from repeated(row, rows_bytes)
    yield b"</sheetData></worksheet>"


def strings_xml(size: int) -> Iterator[bytes]:
    """A shared-strings table of ~``size`` bytes: one long string, repeated."""
    yield f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><sst xmlns="{MAIN}">'.encode()
    yield from repeated(b"<si><t>" + b"WHITE HANGING HEART T-LIGHT HOLDER " * 28 + b"</t></si>",
                        size)
    yield b"</sst>"


def repeated(item: bytes, size: int) -> Iterator[bytes]:
    """``item`` repeated to about ``size`` bytes (at least once), in blocks of ~4 MB."""
    block = item * max(1, min(size, 1 << 22) // len(item))
    for _ in range(max(1, size // len(block))):
        yield block


def write_book(path: Path, sheet: Iterator[bytes], strings: Iterator[bytes]) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as book:
        for name, text in PACKAGE.items():
            book.writestr(name, text)
        for name, chunks in (("xl/worksheets/sheet1.xml", sheet),
                             ("xl/sharedStrings.xml", strings)):
            with book.open(name, "w", force_zip64=True) as member:
                for chunk in chunks:
                    member.write(chunk)


def understate(path: Path, member: str, size: int) -> None:
    """Make the zip declare ``size`` bytes for a (non-zip64) member: local header and
    central directory."""
    with zipfile.ZipFile(path) as book:
        offset = book.getinfo(member).header_offset
    with path.open("r+b") as fh:
        fh.seek(offset + 22)
        fh.write(struct.pack("<I", size))
        data = bytearray(path.read_bytes())
        entry = data.find(b"PK\x01\x02")
        while entry >= 0:
            name_len = struct.unpack_from("<H", data, entry + 28)[0]
            if data[entry + 46:entry + 46 + name_len] == member.encode():
                fh.seek(entry + 24)
                fh.write(struct.pack("<I", size))
            entry = data.find(b"PK\x01\x02", entry + 4)


def make(kind: str, folder: Path) -> Path:
    path = folder / f"{kind}.xlsx"
    small = [b'<?xml version="1.0"?><sst xmlns="' + MAIN.encode() + b'"><si><t>WHITE</t></si>'
             b"</sst>"]
    if kind == "sheet":
        write_book(path, sheet_xml(3 * GB, shared=False), iter(small))
    elif kind == "strings":
        write_book(path, sheet_xml(1 << 20, shared=True), strings_xml(int(2.1 * GB)))
    elif kind == "understated":
        # 2.1 GB fits the 32-bit size fields, so the declared size is one field to change
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as book:
            for name, text in PACKAGE.items():
                book.writestr(name, text)
            book.writestr("xl/sharedStrings.xml", small[0])
            with book.open("xl/worksheets/sheet1.xml", "w") as member:
                for chunk in sheet_xml(int(2.1 * GB), shared=False):
                    member.write(chunk)
        understate(path, "xl/worksheets/sheet1.xml", 10 * 10**6)
    else:  # a small valid workbook: the reference
        write_book(path, sheet_xml(1 << 20, shared=True), iter(small))
    return path


CHILD = """
import json, resource, sys, time
import custseg
from custseg.config import Config, ReadConfig
from custseg.errors import CustsegError
config = Config(read=ReadConfig(max_excel_bytes=int(sys.argv[2])))
start = time.perf_counter()
try:
    dataset = custseg.load(sys.argv[1], config)
    message = f"read {dataset.source.rows:,} rows"
except CustsegError as exc:
    message = str(exc)
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "peak_mb": peak, "message": message}))
"""


def measure(path: Path, limit: int = 2 * GB) -> dict[str, object]:
    with zipfile.ZipFile(path) as book:
        inflated = {i.filename: i.file_size for i in book.infolist()}
    run = subprocess.run([sys.executable, "-c", CHILD, str(path), str(limit)],
                         capture_output=True, text=True, timeout=600)
    if run.returncode:
        return {"error": f"exit {run.returncode}: {run.stderr[-2000:]}"}
    result = json.loads(run.stdout.strip().splitlines()[-1])
    result["file_mb"] = path.stat().st_size / 1e6
    result["declared_sheet_mb"] = inflated["xl/worksheets/sheet1.xml"] / 1e6
    result["declared_strings_mb"] = inflated["xl/sharedStrings.xml"] / 1e6
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keep", type=Path, help="write the bombs here and keep them")
    parser.add_argument("--unguarded", action="store_true",
                        help="also load the shared-strings bomb with a limit of 1 TB")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="custseg-bombs-") as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        rows = []
        for kind in ("reference", "sheet", "strings", "understated"):
            start = time.perf_counter()
            path = make(kind, folder)
            made = time.perf_counter() - start
            result = measure(path)
            print(f"{kind}: generated in {made:.1f} s; {json.dumps(result)}", flush=True)
            rows.append((kind, result))
            if kind == "strings" and args.unguarded:
                result = measure(path, limit=10**12)
                print(f"{kind} unguarded: {json.dumps(result)}", flush=True)
                rows.append((f"{kind}, limit 1 TB", result))
            if not args.keep:
                path.unlink()
    print("\n| workbook | file | declared sheet / strings | load (refused) after | peak RSS |")
    print("|---|---:|---:|---:|---:|")
    for kind, r in rows:
        if "error" in r:
            print(f"| {kind} | failed: {r['error'][:200]} | | | |")
            continue
        print(f"| {kind} | {r['file_mb']:.1f} MB | {r['declared_sheet_mb']:,.0f} MB / "
              f"{r['declared_strings_mb']:,.0f} MB | {r['seconds']:.2f} s | "
              f"{r['peak_mb']:,.0f} MB |")
    for kind, r in rows:
        print(f"\n{kind}: {r.get('message', r.get('error'))}")


if __name__ == "__main__":
    main()
