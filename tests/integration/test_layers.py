"""daemon/metrics/ calls and includes only downwards (model.h lists the layers):
a file may use the functions and headers of a lower layer, never of its own
layer or a higher one. Read from the sources; no daemon is started."""
import glob
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
METRICS = os.path.join(ROOT, "daemon", "metrics")

# Bottom first; a file may use those of earlier rows only.
LAYERS = [
    ["hist"],
    ["agg", "queue", "buckets"],
    ["metric"],
    ["indicators", "assess"],
    ["model"],
    ["presence", "window"],
    ["metrics_fold"],
    ["values"],
    ["metrics_queue"],
    ["alerts"],
    ["eval"],
    ["feedback", "metrics_ledger"],
    ["metrics_store"],
    ["metrics_pack", "metrics_overview", "metrics_series"],
    ["metrics"],
]
RANK = {name: i for i, row in enumerate(LAYERS) for name in row}
# metrics.h is the engine's public contract: the layers include it for its
# types (kj_metrics, kj_scope_ref, the sink), not for calls.
CONTRACT = {"metrics"}


def strip(text):
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    return re.sub(r'"(\\.|[^"\\])*"', '""', text)


def sources():
    out = {}
    for path in sorted(glob.glob(os.path.join(METRICS, "*.[ch]"))):
        with open(path, encoding="utf-8") as f:
            out[os.path.basename(path)] = f.read()
    return out


def definitions(srcs):
    """Non-static function name -> the module (file stem) defining it."""
    defs = {}
    for name, text in srcs.items():
        if not name.endswith(".c"):
            continue
        code = strip(text)
        for m in re.finditer(r"^([a-z][^\n;]*?)\b([A-Za-z_]\w*)\(", code, re.M):
            if m.group(1).startswith(("static", "return", "typedef", "extern")):
                continue
            rest = code[m.end():]
            brace, semi = rest.find("{"), rest.find(";")
            if brace >= 0 and not 0 <= semi < brace:
                defs[m.group(2)] = name[:-2]
    return defs


def test_every_file_has_a_layer():
    stems = {name[:-2] for name in sources()}
    assert stems - set(RANK) == set(), "place the new files in LAYERS (and model.h)"


def test_calls_go_down():
    srcs = sources()
    defs = definitions(srcs)
    up = []
    for name, text in srcs.items():
        if not name.endswith(".c"):
            continue
        me, code = name[:-2], strip(text)
        for fn, owner in defs.items():
            if owner != me and re.search(r"\b" + fn + r"\s*\(", code) and RANK[owner] >= RANK[me]:
                up.append(f"{me} -> {owner}: {fn}")
    assert up == []


def test_includes_go_down():
    up = []
    for name, text in sources().items():
        me = name[:-2]
        for inc in re.findall(r'#include "([a-z_]+)\.h"', text):
            if inc == me or inc in CONTRACT or inc not in RANK:
                continue
            if RANK[inc] >= RANK[me]:
                up.append(f"{name} includes {inc}.h")
    assert up == []
