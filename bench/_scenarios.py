"""What the scenario benches (``input_load.py``, ``realtime_faults.py``) share: ``--only``, a
server environment without the cache and the limits in the way, and the Markdown table."""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from typing import Any

QUIET_SERVER_ENV: Mapping[str, str] = {
    "VOXGATE_CACHE__URL": "memory://?max_bytes=0",  # every request reaches an engine
}
"""Server settings every scenario bench starts from; each adds its own limits and engines."""


def scenario_parser(doc: str | None, scenarios: Sequence[str]) -> argparse.ArgumentParser:
    """An argument parser with ``--only`` (comma-separated scenarios, all by default)."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(scenarios), help="comma-separated scenarios")
    return parser


def chosen_scenarios(
    parser: argparse.ArgumentParser, args: argparse.Namespace, scenarios: Sequence[str]
) -> list[str]:
    """The scenarios ``--only`` names, in its order; an unknown name exits with a usage error."""
    only = [s for s in args.only.split(",") if s]
    unknown = set(only) - set(scenarios)
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    return only


def table(rows: Sequence[Mapping[str, Any]]) -> str:
    """Markdown table of the rows (columns in first-seen order; a missing cell is empty)."""
    columns = list(dict.fromkeys(k for row in rows for k in row))
    out = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    out += ["| " + " | ".join(str(row.get(c, "")) for c in columns) + " |" for row in rows]
    return "\n".join(out)
