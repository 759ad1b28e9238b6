#!/usr/bin/env python3
"""Rewrites Grafana dashboards in their stored form: sorted keys, two-space indent, no top-level
`id` or `version`, so that diffs stay readable. Run it on a dashboard exported from Grafana
before committing it:

    python3 dashboards/normalize.py [FILE.json ...]   # default: dashboards/grafana/*.json

lib/dozor-metrics/tests/content.rs fails when a dashboard is not in this form.
"""
import json
import pathlib
import sys

paths = sys.argv[1:] or sorted(pathlib.Path(__file__).parent.glob("grafana/*.json"))
for path in map(pathlib.Path, paths):
    dashboard = json.loads(path.read_text(encoding="utf-8"))
    dashboard.pop("id", None)
    dashboard.pop("version", None)
    text = json.dumps(dashboard, sort_keys=True, indent=2, ensure_ascii=False)
    path.write_text(text + "\n", encoding="utf-8")
