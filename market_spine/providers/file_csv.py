"""Vendor CSV dialects read with pyarrow.csv: separator and decimal mark as the user says, a UTF-8
BOM, CRLF line ends and quoted headers as the reader handles them, and lines with no values
(blank, whitespace only or separators only) left out and counted, as pandas and Python's csv
module leave out blank lines.

Every value is read as a string so that the caller converts and checks it with its line number;
a line with the wrong number of values, or a header that looks split by another separator, is a
clear error naming the line and the option that fixes it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv

from market_spine.errors import InvalidInput

SEPARATORS = {",": ",", ";": ";", "\t": "\t", "tab": "\t", "\\t": "\t", "|": "|"}
DECIMALS = (".", ",")
_DECIMAL_COMMA = re.compile(r"^\s*-?\d+,\d+\s*$")


@dataclass(frozen=True)
class CsvDialect:
    """How a vendor CSV writes its values: the separator between them (`,` `;` tab `|`) and the
    decimal mark of its numbers (`.` or `,`, as European exports write 5150,25)."""

    separator: str = ","
    decimal: str = "."

    @classmethod
    def of(cls, separator: str | None = None, decimal: str | None = None) -> CsvDialect:
        """A dialect from the command line's words; InvalidInput naming the choices."""
        sep = SEPARATORS.get((separator or ",").strip(" ").lower())
        if sep is None:
            raise InvalidInput(f"--separator {separator!r} is not one of , ; tab |")
        mark = (decimal or ".").strip()
        if mark not in DECIMALS:
            raise InvalidInput(f"--decimal {decimal!r} is not . or ,")
        return cls(sep, mark)

    @property
    def is_default(self) -> bool:
        return self == CsvDialect()

    def describe(self) -> dict[str, str]:
        """The dialect as recorded with a capture's request."""
        return {"separator": self.separator, "decimal": self.decimal}


@dataclass(frozen=True)
class CsvRows:
    """A CSV's records as strings, `_line` the line each came from (the header is line 1), and
    the lines left out because they hold no values."""

    frame: pl.DataFrame
    blank_lines: tuple[int, ...]


class CsvProblem(ValueError):
    """What is wrong with a CSV's layout and how to fix it (the caller adds the file's name)."""

    def __init__(self, what: str, fix: str) -> None:
        super().__init__(f"{what}; {fix}")
        self.what, self.fix = what, fix


def read_rows(data: bytes, dialect: CsvDialect) -> CsvRows:
    """Every record of an uncompressed CSV as strings, blank lines left out and numbered.

    Raises CsvProblem for a header that looks split by another separator, a line whose number of
    values differs from the header's, a quoted value spanning lines, or text that is not UTF-8.
    """
    header = _header(data, dialect)
    quoted = b'"' in data  # only a quoted value can hold a line break
    odd: list[tuple[int, int, str]] = []  # (line, values, text) of lines that do not fit

    def on_invalid(row: pacsv.InvalidRow) -> str:
        odd.append((row.number, row.actual_columns, row.text))
        return "skip"

    try:
        table = pacsv.read_csv(
            pa.py_buffer(data),
            read_options=pacsv.ReadOptions(use_threads=False),  # exact line numbers
            parse_options=pacsv.ParseOptions(
                delimiter=dialect.separator,
                newlines_in_values=quoted,
                ignore_empty_lines=False,  # kept as empty records, so every line is numbered
                invalid_row_handler=on_invalid,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in header},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid as exc:
        raise CsvProblem(f"not a readable CSV ({exc})", _UTF8_FIX) from None
    blank = [line for line, _, text in odd if not text.strip()]
    wrong = [(line, n, text) for line, n, text in odd if text.strip()]
    if wrong:
        line, n, text = wrong[0]
        raise CsvProblem(
            f"line {line} has {n} value(s) where the header has {len(header)} "
            f"({_clip(text)!r}; {len(wrong)} line(s) like this)",
            _count_fix(text, n, len(header), dialect),
        )
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    frame.columns = [c.strip() for c in frame.columns]
    values = list(frame.columns)
    frame = frame.with_columns(_line=_record_lines(frame.height, odd))
    if quoted:
        spans = frame.filter(pl.any_horizontal(pl.col(c).str.contains("[\r\n]") for c in values))
        if spans.height:  # line numbers count one line per record: refuse, naming the first
            raise CsvProblem(
                f"line {spans['_line'][0]}: a quoted value spans several lines",
                "a bar file holds one bar per line: remove the line break inside the quotes",
            )
    # A record with no values has an empty first value: test the others only there.
    maybe = frame.filter(pl.col(values[0]).str.strip_chars() == "")
    empty = maybe.filter(pl.all_horizontal(pl.col(c).str.strip_chars() == "" for c in values))
    blank.extend(empty["_line"].to_list())
    kept = frame.filter(~pl.col("_line").is_in(empty["_line"].implode())) if empty.height else frame
    return CsvRows(kept, tuple(sorted(blank)))


def decimal_hint(value: object, dialect: CsvDialect) -> str:
    """A hint for a number that does not parse: it is written with a decimal comma."""
    if dialect.decimal == "." and isinstance(value, str) and _DECIMAL_COMMA.match(value):
        return f"; {value.strip()!r} looks like a decimal comma: pass --decimal ','"
    return ""


_COMMA_TOO = " (and --decimal ',' if its numbers read like 5150,25)"
_UTF8_FIX = "save the file as UTF-8 CSV and check the separator (--separator) and quoting"


def _header(data: bytes, dialect: CsvDialect) -> list[str]:
    """The header's column names; a single name holding another separator is a wrong guess."""
    try:
        reader = pacsv.open_csv(
            pa.py_buffer(data),
            read_options=pacsv.ReadOptions(use_threads=False, block_size=1 << 16),
            parse_options=pacsv.ParseOptions(
                delimiter=dialect.separator, invalid_row_handler=lambda _: "skip"
            ),
            convert_options=pacsv.ConvertOptions(include_columns=[]),
        )
        names = list(reader.schema.names)
    except pa.ArrowInvalid as exc:
        raise CsvProblem(f"not a readable CSV header ({exc})", _UTF8_FIX) from None
    if len(names) == 1:
        only = names[0]
        for name, sep in (("','", ","), ("';'", ";"), ("tab", "\t"), ("'|'", "|")):
            if sep != dialect.separator and sep in only:
                raise CsvProblem(
                    f"the header is one column {_clip(only)!r}: the values look separated by "
                    f"{name}, not {_name(dialect.separator)}",
                    f"pass --separator {name}" + (_COMMA_TOO if sep == ";" else ""),
                )
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise CsvProblem(
            f"the header names {', '.join(map(repr, dupes))} more than once",
            "give every column its own name",
        )
    return names


def _record_lines(records: int, odd: list[tuple[int, int, str]]) -> pl.Series:
    """The line of each record pyarrow returned: the lines after the header (one record per
    line), less the lines its invalid-row handler left out."""
    lines = np.arange(2, 2 + records + len(odd), dtype=np.int64)
    if odd:
        lines = lines[~np.isin(lines, [line for line, _, _ in odd])]
    return pl.Series("_line", lines[:records])


def _count_fix(text: str, values: int, header: int, dialect: CsvDialect) -> str:
    if dialect.separator == "," and values > header and re.search(r"\d,\d", text):
        return (
            "the line looks written with decimal commas: quote such values and pass "
            "--decimal ',', or export with ';' between values and pass --separator ';' "
            "--decimal ','"
        )
    return (
        "give every line one value per column (quote values that contain the separator "
        f"{_name(dialect.separator)}), or pass the file's separator with --separator"
    )


def _name(sep: str) -> str:
    return "tab" if sep == "\t" else repr(sep)


def _clip(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"
