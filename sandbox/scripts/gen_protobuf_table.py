"""Derive the sandbox's protobuf field table (sandbox/tripgen_sandbox/data/protobuf-fields.json.gz)
from the published Kubernetes API definitions: each package's go-to-protobuf `generated.proto`
(message names, field numbers, wire types) joined with the Go struct tags of its types*.go (the
JSON name of each field, `,inline`, `omitempty`, pointer or not), which the protobuf IDL does
not carry. Only the derived table is committed, never the sources.

    .venv/bin/python sandbox/scripts/gen_protobuf_table.py \\
        k8s.io/api=<git dir of kubernetes/api> \\
        k8s.io/apimachinery=<git dir of kubernetes/apimachinery> \\
        k8s.io/apiextensions-apiserver=<git dir of kubernetes/apiextensions-apiserver>

Table format: {message full name: {"f": [[number, json name, type, flags], ...], "l": 1 if the Go
type is a named slice (the JSON value is the list of the single `items` field)}}. type is a scalar
("string", "int32", "int64", "bool", "bytes", "double", "float"), a message full name prefixed
with "m:", or ["map", key type, value type]. flags: r repeated, i inline (JSON name ""), o
omitempty, p pointer, - not in JSON.
"""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "tripgen_sandbox" / "data" / "protobuf-fields.json.gz"

# GA packages of each repository whose messages the sandbox may serve
PACKAGES = {
    "k8s.io/api": r"^(?:core|apps|batch|networking|coordination|rbac|storage|policy|events|discovery|authorization|authentication|autoscaling|certificates|scheduling|node|admissionregistration|flowcontrol)/v[12]/",
    "k8s.io/apimachinery": r"^pkg/(?:apis/meta/v1|runtime|runtime/schema|util/intstr|api/resource)/",
    "k8s.io/apiextensions-apiserver": r"^pkg/apis/apiextensions/v1/",
}
SCALARS = {"string", "int32", "int64", "bool", "bytes", "double", "float", "uint32", "uint64", "sint32", "sint64", "fixed32", "fixed64"}

FIELD = re.compile(r"^\s*(optional|repeated|required)?\s*(map<\s*([\w.]+)\s*,\s*([\w.]+)\s*>|[\w.]+)\s+(\w+)\s*=\s*(\d+)\s*;")
GO_FIELD = re.compile(r"^\s*(?:(\w+)\s+)?([^\s`]+)\s+`([^`]*)`")


def git_files(repo: str, pattern: str) -> dict[str, str]:
    names = subprocess.run(["git", "--git-dir", repo, "ls-tree", "-r", "--name-only", "HEAD"], capture_output=True, text=True, check=True).stdout.split()
    rx = re.compile(pattern)
    out = {}
    for n in names:
        if rx.match(n) and (n.endswith("generated.proto") or (n.endswith(".go") and not n.endswith(("_test.go", "generated.pb.go")) and "zz_generated" not in n)):
            if n.count("/") != n.rsplit("/", 1)[0].count("/") + 1:
                continue
            out[n] = subprocess.run(["git", "--git-dir", repo, "show", f"HEAD:{n}"], capture_output=True, text=True, check=True).stdout
    return out


def parse_proto(text: str) -> tuple[str, dict[str, list]]:
    pkg = re.search(r"^package ([\w.]+);", text, re.M).group(1)
    messages: dict[str, list] = {}
    current = None
    depth = 0
    for line in text.splitlines():
        s = line.split("//", 1)[0]
        m = re.match(r"^message (\w+) \{", s)
        if m and depth == 0:
            current = f"{pkg}.{m.group(1)}"
            messages[current] = []
            depth = 1
            continue
        if current is None:
            continue
        depth += s.count("{") - s.count("}")
        if depth <= 0:
            current = None
            depth = 0
            continue
        f = FIELD.match(s)
        if f:
            label, typ, mk, mv, name, num = f.groups()
            messages[current].append((int(num), name, label == "repeated", typ if not mk else ("map", mk, mv)))
    return pkg, messages


def resolve(t: str, pkg: str) -> str:
    if t in SCALARS:
        return t
    t = t.lstrip(".")
    return "m:" + (t if "." in t else f"{pkg}.{t}")


def parse_go(text: str) -> tuple[dict[str, dict[str, tuple]], set[str]]:
    structs: dict[str, dict[str, tuple]] = {}
    slices = set(re.findall(r"^type (\w+) \[\]\w+", text, re.M))
    current = None
    for line in text.splitlines():
        m = re.match(r"^type (\w+) struct \{", line)
        if m:
            current = m.group(1)
            structs[current] = {}
            continue
        if current and line.startswith("}"):
            current = None
            continue
        if not current:
            continue
        g = GO_FIELD.match(line)
        if not g:
            continue
        goname, gotype, tag = g.groups()
        pb = re.search(r'protobuf:"([^"]*)"', tag)
        js = re.search(r'json:"([^"]*)"', tag)
        if not pb:
            continue
        parts = pb.group(1).split(",")
        pname = next((p[5:] for p in parts if p.startswith("name=")), None)
        jparts = js.group(1).split(",") if js else [pname]
        flags = ""
        if jparts[0] == "-":
            flags += "-"
        if "inline" in jparts[1:] or (goname is None and not jparts[0]):  # an embedded struct is inlined
            flags += "i"
        if "omitempty" in jparts[1:]:
            flags += "o"
        if gotype.startswith("*"):
            flags += "p"
        structs[current][pname] = ("" if "i" in flags else jparts[0] or pname, flags)
    return structs, slices


def main(args: list[str]) -> None:
    table: dict[str, dict] = {}
    for arg in args:
        prefix, repo = arg.split("=", 1)
        files = git_files(repo, PACKAGES[prefix])
        dirs = sorted({n.rsplit("/", 1)[0] for n in files if n.endswith(".proto")})
        for d in dirs:
            pkg, messages = parse_proto(files[f"{d}/generated.proto"])
            structs: dict[str, dict] = {}
            slices: set[str] = set()
            for n, text in files.items():
                if n.rsplit("/", 1)[0] == d and n.endswith(".go"):
                    s, sl = parse_go(text)
                    structs.update(s)
                    slices |= sl
            for full, fields in messages.items():
                short = full.rsplit(".", 1)[-1]
                go = structs.get(short, {})
                rows = []
                for num, pname, repeated, typ in fields:
                    jname, flags = go.get(pname, (pname, ""))
                    t = ["map", typ[1], resolve(typ[2], pkg)] if isinstance(typ, tuple) else resolve(typ, pkg)
                    rows.append([num, jname, t, ("r" if repeated else "") + flags])
                entry = {"f": rows}
                if short in slices and len(rows) == 1 and rows[0][3].startswith("r"):
                    entry["l"] = 1
                table[full] = entry
    OUT.write_bytes(gzip.compress(json.dumps(table, sort_keys=True, separators=(",", ":")).encode(), mtime=0))
    print(f"{OUT}: {len(table)} messages")


if __name__ == "__main__":
    main(sys.argv[1:])
