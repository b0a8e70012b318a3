"""What can be known about an extraction SELECT without running it.

Loaded at DAG parse time for every configured SQL file, so it is one regex tokeniser pass
and nothing else: no SQL parser dependency, no database.

Limits of this static reading (the database remains the judge at run time):
- Output names are read from the top-level select list(s) only: `expr AS name`, and for
  the required columns also `expr name` and a bare `t.name`. Aliases inside parentheses
  (`CAST(x AS VARCHAR)`, sub-queries, CTE bodies) are not output names and are ignored.
- An implicit alias without `AS` (`c.gxsj updated_at`) is not checked against the
  canonical names; only `AS <alias>` is.
- `SELECT *` (or `t.*`) hides the names: the required-column check is skipped.
- Dialect quirks beyond quoting ("x", `x`, [x]) and comments (--, /* */) are not modelled.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_TOKEN = re.compile(  # leading blanks go with the token: half as many matches to loop over
    r"""
    \s*(?:
      (?P<comment>--[^\n]*|/\*.*?(?:\*/|\Z))
    | (?P<string>[NnEe]?'(?:[^']|'')*(?:'|\Z))
    | (?P<quoted>"(?:[^"]|"")*"|`[^`]*`|\[[^\]]*\])
    | (?P<word>[^\W\d][\w$#]*)
    | (?P<number>\d[\w.]*)
    | (?P<punct>[(),;.*])
    | (?P<other>\S)
    )
    """,
    re.S | re.X,
)
_SET_OPERATORS = {"UNION", "INTERSECT", "EXCEPT", "MINUS"}
_LIST_END = {"FROM", "INTO", "WHERE", "GROUP", "ORDER", "HAVING", "LIMIT", "FETCH", "FOR"}


@dataclass
class SelectShape:
    """The statement's top-level select lists: explicit aliases and output names."""

    aliases: list[str] = field(default_factory=list)  # every `AS name` in a select list
    output_names: set[str] = field(default_factory=set)  # of the first select list, lower case
    star: bool = False  # the first select list has `*`: output names unknown


def _tokens(sql: str) -> list[tuple[str, str]]:
    out = []
    for m in _TOKEN.finditer(sql):
        kind = m.lastgroup
        if kind == "comment" or kind is None:  # None: trailing blanks
            continue
        text = m.group(kind)
        if kind == "quoted":
            kind, text = "word", text[1:-1].replace('""', '"')
        out.append((kind, text))
    return out


def _output_name(item: list[tuple[str, str]]) -> str | None:
    """The column name a select item produces, when it ends in an identifier."""
    if not item or item[-1][0] != "word":
        return None
    return item[-1][1]


def read_select(sql: str) -> SelectShape | str:
    """The shape of a single SELECT (or WITH ... SELECT), or why it is not one."""
    tokens = _tokens(sql)
    while tokens and tokens[-1] == ("punct", ";"):
        tokens.pop()
    if not tokens or tokens[0][0] != "word" or tokens[0][1].upper() not in ("SELECT", "WITH"):
        return "must be a single SELECT statement"
    if ("punct", ";") in tokens:
        return "must contain exactly one statement (found ';' inside)"
    shape = SelectShape()
    depth, lists = 0, 0
    item: list[tuple[str, str]] | None = None  # the select item being read, at depth 0
    for i, (kind, text) in enumerate(tokens):
        upper = text.upper() if kind == "word" else text
        if kind == "punct" and text == "(":
            depth += 1
        elif kind == "punct" and text == ")":
            depth -= 1
        if depth == 0 and kind == "word" and upper == "SELECT":
            lists += 1
            item = []
            continue
        if item is None or depth < 0:
            continue
        if depth == 0 and kind == "word" and (upper in _LIST_END or upper in _SET_OPERATORS):
            if lists == 1:
                _finish_item(shape, item)
            item = None
            continue
        if depth == 0 and text == "," and kind == "punct":
            if lists == 1:
                _finish_item(shape, item)
            item = []
            continue
        if depth == 0 and upper == "AS" and i + 1 < len(tokens) and tokens[i + 1][0] == "word":
            shape.aliases.append(tokens[i + 1][1])
        item.append((kind, text))
    if item is not None and lists == 1:
        _finish_item(shape, item)
    return shape


def _finish_item(shape: SelectShape, item: list[tuple[str, str]]) -> None:
    if item and item[-1] == ("punct", "*"):
        shape.star = True
        return
    name = _output_name(item)
    if name:
        shape.output_names.add(name.lower())
