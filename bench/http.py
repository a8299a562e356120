"""HTTP benchmark of ``voxgate serve``: cache hits under load, cache-miss overhead, streaming first audio.

    .venv/bin/python bench/http.py                # full run (~6 min), prints a Markdown table
    .venv/bin/python bench/http.py --quick        # short version while developing
    .venv/bin/python bench/http.py --json out.json

(a) cache-hit requests/s, P50 and P99 at 32 connections (wrk, 2 threads);
(b) cache-miss overhead: HTTP latency / in-process engine time for the same texts, beside piper's
    own ``piper.http_server`` on the same model;
(c) streaming time to first audio, P50/P95, for piper and kokoro.

The work is in ``_http_bench.py``. This file only launches it: its name is the standard library's
``http`` package's, and running any script in bench/ puts bench/ first on ``sys.path``, so an
``import http.client`` there would land here. Run as a script, it moves bench/ behind the standard
library first; imported as ``http`` by mistake, it puts the real package in its place.
"""

import sys
from pathlib import Path

if __name__ == "__main__":
    _here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _here] + [str(_here)]
    from _http_bench import main

    raise SystemExit(main())
elif __name__ == "http":
    import importlib.machinery
    import importlib.util
    import sysconfig

    _spec = importlib.machinery.PathFinder.find_spec("http", [sysconfig.get_path("stdlib")])
    if _spec is None or _spec.loader is None:
        raise ImportError("the standard library's http package is missing")
    _module = importlib.util.module_from_spec(_spec)
    sys.modules["http"] = _module  # the import system returns what sys.modules holds after this runs
    _spec.loader.exec_module(_module)
