"""What a file really is, from its first bytes: format, compression and text encoding.

Files are read by content, not by name: an export renamed .csv that is really a workbook, or a
CSV saved as .parquet, is read as what it is, and the note says the extension was wrong.
Text that is not UTF-8 (cp1252 from Excel on Windows, UTF-16 with a byte-order mark) is
transcoded once to a temporary UTF-8 copy, because DuckDB's CSV reader reads UTF-8 only
without an extension this machine cannot download.
"""

from __future__ import annotations

import codecs
import gzip
import os
import shutil
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from custseg.errors import InputError

#: Bytes looked at to decide a text file's encoding.
SNIFF_BYTES = 1 << 20
#: Transcoding works in blocks of this many bytes, so any size of file fits in memory.
BLOCK = 1 << 22

TEXT_SUFFIXES = (".csv", ".tsv", ".txt")
EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".xlsb", ".ods")
PARQUET_SUFFIXES = (".parquet", ".pq")

_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # legacy .xls (and other Office binaries)
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_EMPTY_ZIP = b"PK\x05\x06"  # a zip archive with no member
#: Control bytes (not tab, line feed, form feed or carriage return): text has next to none.
_CONTROL = bytes([*range(0x00, 0x09), 0x0B, *range(0x0E, 0x20), 0x7F])
#: More than this share of control bytes in the first megabyte is binary data, not text; a
#: stray NUL or two in a text export is not.
MAX_CONTROL_SHARE = 0.02
#: Share of one byte of each pair that is NUL in UTF-16 text of Latin letters and digits.
UTF16_NUL_SHARE = 0.9

LABELS = {"utf-16": "UTF-16", "utf-16-le": "UTF-16 (little-endian, without a byte-order mark)",
          "utf-16-be": "UTF-16 (big-endian, without a byte-order mark)",
          "cp1252": "Windows-1252 (cp1252)", "latin-1": "Latin-1"}


@dataclass
class Sniffed:
    """A file's real kind. ``path`` is what the reader should open (a UTF-8 copy for
    transcoded text); :meth:`cleanup` removes such a copy."""

    path: Path
    format: str  # "excel", "csv" or "parquet"
    compression: str | None = None  # "gzip" for gzipped text
    encoding: str = "utf-8"
    notes: list[str] = field(default_factory=list)
    temporary: list[Path] = field(default_factory=list)

    def cleanup(self) -> None:
        for tmp in self.temporary:
            tmp.unlink(missing_ok=True)
        self.temporary.clear()


def sniff(path: Path, temp_dir: str | None = None) -> Sniffed:
    """Decide what ``path`` holds from its bytes.

    Raises
    ------
    InputError
        For an empty file, a zip archive that holds no single table, or binary data that is
        not a format custseg reads.
    """
    size = path.stat().st_size
    if size == 0:
        raise InputError(f"{path}: the file is empty (0 bytes). Export the data again; the "
                         f"export may have been interrupted.")
    with path.open("rb") as handle:
        head = handle.read(SNIFF_BYTES)
    name = path.name.lower()
    if head.startswith((b"PK\x03\x04", _EMPTY_ZIP)):
        return _zip(path, name, temp_dir)
    if head.startswith(_OLE):
        return _named(Sniffed(path, "excel"), name, EXCEL_SUFFIXES, "an Excel (.xls) workbook")
    if head.startswith(b"PAR1"):
        return _named(Sniffed(path, "parquet"), name, PARQUET_SUFFIXES, "a Parquet file")
    if head.startswith(b"\x1f\x8b"):
        inner = _gunzip_head(path)
        if inner.startswith((b"PK\x03\x04", _OLE, b"PAR1", b"\x1f\x8b")):
            raise InputError(f"{path}: a gzip file holding a binary file. Decompress it "
                             f"(gunzip) and give the file inside.")
        sniffed = _text(path, inner, temp_dir, compressed=True)
        return _named(sniffed, name.removesuffix(".gz"), TEXT_SUFFIXES,
                      "gzip-compressed text", gz=not name.endswith(".gz"))
    return _named(_text(path, head, temp_dir, compressed=False), name, TEXT_SUFFIXES,
                  "delimited text")


def _named(sniffed: Sniffed, name: str, suffixes: tuple[str, ...], what: str,
           gz: bool = False) -> Sniffed:
    """Note a file name that says otherwise than the content."""
    if not name.endswith(suffixes) or gz:
        sniffed.notes.insert(0, f"the file name ({Path(name).suffix or 'no extension'}) does "
                                f"not match its content: it is {what}, and was read as such")
    return sniffed


def _zip(path: Path, name: str, temp_dir: str | None) -> Sniffed:
    target: Path | None = None
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.namelist()
            lower = {m.lower() for m in members}
            if "xl/workbook.xml" in lower or "xl/workbook.bin" in lower or "content.xml" in lower:
                return _named(Sniffed(path, "excel"), name, EXCEL_SUFFIXES, "an Excel workbook")
            tables = [m for m in members if m.lower().endswith(
                TEXT_SUFFIXES + PARQUET_SUFFIXES + EXCEL_SUFFIXES) and not m.endswith("/")]
            if not members:
                raise InputError(f"{path}: an empty zip archive (it holds no file). Download "
                                 f"or compress the transaction file again.")
            if len(tables) != 1:
                listed = ", ".join(members[:8]) + (" …" if len(members) > 8 else "")
                raise InputError(
                    f"{path}: a zip archive holding {len(members)} file(s) ({listed}), not one "
                    f"table. Extract the transaction file and give it instead.")
            fd, name = tempfile.mkstemp(prefix="custseg-unzip-", dir=temp_dir,
                                        suffix=Path(tables[0]).suffix)
            target = Path(name)
            with archive.open(tables[0]) as src, os.fdopen(fd, "wb") as dst:
                shutil.copyfileobj(src, dst, BLOCK)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, RuntimeError,
            OSError, EOFError) as exc:
        # RuntimeError: an encrypted member; NotImplementedError: an unknown compression.
        if target is not None:
            target.unlink(missing_ok=True)
        raise InputError(f"{path}: looks like a zip archive or workbook but cannot be opened "
                         f"({exc}). Save or download it again.") from exc
    try:
        inner = sniff(target, temp_dir)
    except InputError as exc:
        target.unlink(missing_ok=True)
        # Name the archive and its member, not the temporary copy.
        raise InputError(str(exc).replace(str(target), f"{path} ({tables[0]})"),
                         detail=exc.detail) from exc
    inner.temporary.append(target)
    inner.notes.insert(0, f"read {tables[0]!r} from inside the zip archive")
    return inner


def _gunzip_head(path: Path) -> bytes:
    try:
        with gzip.open(path, "rb") as handle:
            return handle.read(SNIFF_BYTES)
    except GZIP_ERRORS as exc:
        raise damaged_gzip(path, exc) from exc


#: What a truncated or corrupted gzip stream raises while it is read.
GZIP_ERRORS = (gzip.BadGzipFile, EOFError, zlib.error)


def damaged_gzip(path: Path, exc: BaseException) -> InputError:
    cause = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return InputError(f"{path}: a damaged gzip file ({cause}). Download or compress it again.")


def _text(path: Path, head: bytes, temp_dir: str | None, compressed: bool) -> Sniffed:
    """Text: UTF-8 as it is; UTF-16 (with a byte-order mark) and cp1252/latin-1 transcoded."""
    compression = "gzip" if compressed else None
    utf16 = "utf-16" if head.startswith(_UTF16_BOMS) else _bomless_utf16(head)
    if utf16:
        _refuse_empty(path, _decode_head(head, utf16).encode("utf-8"), compressed)
        return transcode(Sniffed(path, "csv", compression), utf16, temp_dir)
    _refuse_empty(path, head, compressed)
    start = head.lstrip(codecs.BOM_UTF8 + b" \t\r\n")[:1]
    if start in (b"{", b"[") and not compressed:
        raise InputError(f"{path}: JSON data, not a table. custseg reads workbooks, delimited "
                         f"text and Parquet: export the transactions as CSV.")
    if start == b"<":
        raise InputError(f"{path}: an HTML or XML document, not a table (a download that "
                         f"returned a web page?). Export the transactions as CSV or .xlsx.")
    if sum(head.count(b) for b in _CONTROL) > MAX_CONTROL_SHARE * len(head):
        raise InputError(f"{path}: binary data, not a table custseg reads (.xlsx/.xls, "
                         f"delimited text, Parquet). Export the data to one of these.")
    encoding = "utf-8" if _is_utf8(head) else _single_byte(head)
    sniffed = Sniffed(path, "csv", compression)
    return sniffed if encoding == "utf-8" else transcode(sniffed, encoding, temp_dir)


def _refuse_empty(path: Path, head: bytes, compressed: bool) -> None:
    """A file holding nothing but a byte-order mark, spaces or line ends is empty."""
    if len(head) < SNIFF_BYTES and not head.lstrip(codecs.BOM_UTF8 + b" \t\r\n\x0c"):
        inside = " once decompressed" if compressed else ""
        raise InputError(f"{path}: the file is empty{inside}: it holds no text, only blank "
                         f"lines or a byte-order mark. Export the data again; the export may "
                         f"have been interrupted.")


def _bomless_utf16(head: bytes) -> str | None:
    """UTF-16 without a byte-order mark, told by its NUL bytes: text of Latin letters and
    digits has a NUL as every second byte (the first of each pair when big-endian)."""
    pairs = head[: len(head) // 2 * 2][:SNIFF_BYTES]
    if len(pairs) < 4:
        return None
    odd, even = pairs[1::2].count(0), pairs[0::2].count(0)
    half = len(pairs) // 2
    if odd >= UTF16_NUL_SHARE * half and even < (1 - UTF16_NUL_SHARE) * half:
        return "utf-16-le"
    if even >= UTF16_NUL_SHARE * half and odd < (1 - UTF16_NUL_SHARE) * half:
        return "utf-16-be"
    return None


def _decode_head(head: bytes, encoding: str) -> str:
    """The start of UTF-16 text (the sample may end inside a character)."""
    return codecs.getincrementaldecoder(encoding)(errors="replace").decode(head)


def _is_utf8(data: bytes) -> bool:
    try:
        # Not final: the sample may end inside a multi-byte character.
        codecs.getincrementaldecoder("utf-8")().decode(data, final=False)
    except UnicodeDecodeError:
        return False
    return True


def _single_byte(data: bytes) -> str:
    """cp1252 (Windows' Western encoding, which has € and curly quotes) unless the bytes use
    one of the five codes it leaves undefined; then latin-1, which defines every byte."""
    try:
        data.decode("cp1252")
    except UnicodeDecodeError:
        return "latin-1"
    return "cp1252"


def transcode(sniffed: Sniffed, encoding: str, temp_dir: str | None = None) -> Sniffed:
    """Write a UTF-8 copy of the text, block by block; the note says which encoding was read."""
    opener = gzip.open if sniffed.compression == "gzip" else open
    fd, name = tempfile.mkstemp(prefix="custseg-utf8-", suffix=".csv", dir=temp_dir)
    target = Path(name)
    label = LABELS.get(encoding, encoding)
    try:
        with opener(sniffed.path, "rb") as src, os.fdopen(fd, "wb") as dst:
            decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
            while block := src.read(BLOCK):
                dst.write(decoder.decode(block).encode("utf-8"))
            dst.write(decoder.decode(b"", final=True).encode("utf-8"))
    except UnicodeDecodeError as exc:
        target.unlink(missing_ok=True)
        raise InputError(f"{sniffed.path}: the text is neither UTF-8 nor {label}: byte "
                         f"{exc.start:,} cannot be read ({exc.reason}), so the file is damaged "
                         f"or in another encoding. Save it again as UTF-8 CSV.") from exc
    except GZIP_ERRORS as exc:
        target.unlink(missing_ok=True)
        raise damaged_gzip(sniffed.path, exc) from exc
    except OSError:
        target.unlink(missing_ok=True)
        raise
    return Sniffed(target, "csv", None, encoding,
                   [*sniffed.notes, f"the text is {label}, not UTF-8, and was read as such"],
                   [*sniffed.temporary, target])
