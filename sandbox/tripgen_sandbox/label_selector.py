"""The label selector grammar of apimachinery's labels.Parse (k8s.io/apimachinery/pkg/labels/
selector.go, 1.29): its lexer (identifiers end at whitespace or one of `=!(),<>`), its parser
and its validation of keys and values, so that a selector the real API server answers 400 to
(`app=web?watch=1`, `app===web`, a 64-character value) is refused here too, with the same
"unable to parse requirement: ..." text. Matching: =, ==, in need the key; !=, notin match an
absent key; gt/lt compare integers."""

from __future__ import annotations

import re
from typing import Callable

from tripgen_sandbox.apierrors import ApiError
from tripgen_sandbox.apiserver.validation import (LABEL_VALUE_MSG as VALUE_MSG, LABEL_VALUE_RE, QUALIFIED_NAME_MSG as NAME_MSG,
                                                 QUALIFIED_NAME_RE as NAME_PART_RE, SUBDOMAIN_MSG, SUBDOMAIN_RE)

SPECIAL = set("=!(),<>")
TOKENS = {")": "CLOSE", ",": "COMMA", "!": "NOT", "==": "==", "=": "=", ">": "gt", "<": "lt", "!=": "!=", "(": "OPEN"}
KEYWORDS = {"in": "in", "notin": "notin"}
BINARY = "in, notin, =, ==, !=, gt, lt"

PREFIX_MSG = f"prefix part {SUBDOMAIN_MSG}"
INTEGER = re.compile(r"[-+]?\d+")  # what strconv.ParseInt takes: a gt/lt bound, a label compared with it

Labels = dict[str, str]


class SelectorError(ValueError):
    pass


def lex(text: str) -> list[tuple[str, str]]:
    """(token, literal) pairs, ending with ("END", "")."""
    out, i = [], 0
    while i < len(text):
        ch = text[i]
        if ch in " \t\r\n":
            i += 1
        elif ch in SPECIAL:
            j, best = i, None
            while j < len(text) and text[j] in SPECIAL:
                j += 1
                if text[i:j] in TOKENS:
                    best = j
                elif best is not None:
                    break
            if best is None:
                out.append(("ERROR", f"error expected: keyword found '{text[i:j]}'"))
                i = j
            else:
                out.append((TOKENS[text[i:best]], text[i:best]))
                i = best
        else:
            j = i
            while j < len(text) and text[j] not in SPECIAL and text[j] not in " \t\r\n":
                j += 1
            word = text[i:j]
            out.append((KEYWORDS.get(word, "ID"), word))
            i = j
    out.append(("END", ""))
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.items = lex(text)
        self.pos = 0

    def peek(self, values: bool = True) -> tuple[str, str]:
        tok, lit = self.items[self.pos]
        return ("ID", lit) if values and tok in ("in", "notin") else (tok, lit)

    def take(self, values: bool = True) -> tuple[str, str]:
        item = self.peek(values)
        self.pos = min(self.pos + 1, len(self.items) - 1)
        return item

    def parse(self) -> list[tuple[str, str, list[str]]]:
        reqs = []
        while True:
            tok, lit = self.peek()
            if tok == "END":
                return reqs
            if tok not in ("ID", "NOT"):
                raise SelectorError(f"found '{lit}', expected: !, identifier, or 'end of string'")
            try:
                reqs.append(self.requirement())
            except SelectorError as exc:
                raise SelectorError(f"unable to parse requirement: {exc}") from None
            tok, lit = self.take()
            if tok == "END":
                return reqs
            if tok != "COMMA":
                raise SelectorError(f"found '{lit}', expected: ',' or 'end of string'")
            nxt, nlit = self.peek()
            if nxt not in ("ID", "NOT"):
                raise SelectorError(f"found '{nlit}', expected: identifier after ','")

    def requirement(self) -> tuple[str, str, list[str]]:
        op = None
        tok, lit = self.take()
        if tok == "NOT":
            op = "!"
            tok, lit = self.take()
        if tok != "ID":
            raise SelectorError(f"found '{lit}', expected: identifier")
        key = lit
        _check_key(key)
        if op == "!" or self.peek()[0] in ("END", "COMMA"):
            return _requirement(key, op or "exists", [])  # `!a=b`: the caller finds '=' out of place
        tok, lit = self.take(values=False)
        if tok not in ("in", "notin", "=", "==", "!=", "gt", "lt"):
            raise SelectorError(f"found '{lit}', expected: {BINARY}")
        return _requirement(key, tok, self.values() if tok in ("in", "notin") else self.exact())

    def exact(self) -> list[str]:
        if self.peek()[0] in ("END", "COMMA"):
            return [""]
        tok, lit = self.take()
        if tok != "ID":
            raise SelectorError(f"found '{lit}', expected: identifier")
        return [lit]

    def values(self) -> list[str]:
        tok, lit = self.take()
        if tok != "OPEN":
            raise SelectorError(f"found '{lit}' expected: '('")
        tok, lit = self.peek()
        if tok == "CLOSE":
            self.take()
            return [""]
        if tok not in ("ID", "COMMA"):
            raise SelectorError(f"found '{lit}', expected: ',', ')' or identifier")
        found = self.identifiers()
        tok, lit = self.take()
        if tok != "CLOSE":
            raise SelectorError(f"found '{lit}', expected: ')'")
        return found

    def identifiers(self) -> list[str]:
        found: list[str] = []
        while True:
            tok, lit = self.take()
            if tok == "ID":
                found.append(lit)
                nxt, nlit = self.peek()
                if nxt == "CLOSE":
                    return found
                if nxt != "COMMA":
                    raise SelectorError(f"found '{nlit}', expected: ',' or ')'")
            elif tok == "COMMA":
                if not found:
                    found.append("")  # a leading comma: an empty value
                if self.peek()[0] == "CLOSE":
                    found.append("")  # a trailing comma
                    return found
                if self.peek()[0] == "COMMA":
                    found.append("")
            else:
                raise SelectorError(f"found '{lit}', expected: ',', or identifier")


def _check_key(key: str) -> None:
    prefix, slash, name = key.rpartition("/")
    errs = []
    if slash and (not prefix or len(prefix) > 253 or not SUBDOMAIN_RE.match(prefix)):
        errs.append(PREFIX_MSG)
    if not name:
        errs.append("name part must be non-empty")
    else:
        if len(name) > 63:
            errs.append("name part must be no more than 63 characters")
        if not NAME_PART_RE.match(name):
            errs.append(NAME_MSG)
    if errs:
        raise SelectorError(f'key: Invalid value: "{key}": ' + "; ".join(errs))


def _requirement(key: str, op: str, values: list[str]) -> tuple[str, str, list[str]]:
    errs = []
    if op in ("gt", "lt"):
        for i, v in enumerate(values):
            if not INTEGER.fullmatch(v):
                errs.append(f"values[{i}]: Invalid value: \"{v}\": for 'Gt', 'Lt' operators, the value must be an integer")
    for i, v in enumerate(values):
        msgs = (["must be no more than 63 characters"] if len(v) > 63 else []) + ([] if LABEL_VALUE_RE.match(v) else [VALUE_MSG])
        if msgs:
            errs.append(f'values[{i}][{key}]: Invalid value: "{v}": ' + "; ".join(msgs))
    if errs:
        raise SelectorError(errs[0] if len(errs) == 1 else "[" + ", ".join(errs) + "]")
    return key, op, values


def _matcher(key: str, op: str, values: list[str]) -> Callable[[Labels], bool]:
    wanted = set(values)
    if op == "exists":
        return lambda labels: key in labels
    if op == "!":
        return lambda labels: key not in labels
    if op in ("=", "==", "in"):
        return lambda labels: key in labels and labels[key] in wanted
    if op in ("!=", "notin"):
        return lambda labels: key not in labels or labels[key] not in wanted
    bound = int(values[0])
    newer = (lambda a, b: a > b) if op == "gt" else (lambda a, b: a < b)
    return lambda labels: key in labels and INTEGER.fullmatch(labels[key] or "") is not None and newer(int(labels[key]), bound)


def parse(text: str | None) -> Callable[[Labels], bool]:
    """A predicate over a labels dict, or ApiError 400 with the API server's message."""
    if not text or not text.strip():
        return lambda labels: True
    try:
        tests = [_matcher(*req) for req in _Parser(text).parse()]
    except SelectorError as exc:
        raise ApiError(400, str(exc)) from None
    return lambda labels: all(t(labels or {}) for t in tests)
