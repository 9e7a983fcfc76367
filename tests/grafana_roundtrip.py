"""Reads each dashboard with Grafana's Foundation SDK (grafana-foundation-sdk)
and writes it back: the SDK decodes the JSON into its typed dashboard, panel,
query and panel-options models, so a field it does not know, or a value of the
wrong type, does not survive the round trip. Exit 1 with the differences."""
import json
import sys

from grafana_foundation_sdk.cog import plugins
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import Dashboard

plugins.register_default_plugins()


def missing(ours, theirs, path="$"):
    """Every value we wrote that the round trip lost or changed."""
    if isinstance(ours, dict):
        if not isinstance(theirs, dict):
            return [f"{path}: became {theirs!r}"]
        out = []
        for k, v in ours.items():
            if k not in theirs:
                out.append(f"{path}.{k}: dropped (unknown to the schema)")
            else:
                out += missing(v, theirs[k], f"{path}.{k}")
        return out
    if isinstance(ours, list):
        if not isinstance(theirs, list) or len(theirs) != len(ours):
            return [f"{path}: list changed"]
        return [m for i, (a, b) in enumerate(zip(ours, theirs)) for m in missing(a, b, f"{path}[{i}]")]
    if ours != theirs and not (isinstance(ours, (int, float)) and ours == theirs):
        return [f"{path}: {ours!r} became {theirs!r}"]
    return []


failed = False
for path in sys.argv[1:]:
    with open(path) as f:
        ours = json.load(f)
    model = Dashboard.from_json(ours)
    # The typed panel options must be the SDK's classes, not raw dicts it gave up on.
    for p in model.panels or []:
        if getattr(p, "type", "row") in ("timeseries", "stat", "table") and isinstance(p.options, dict):
            print(f"{path}: panel {p.title!r}: options not decoded by the {p.type} model")
            failed = True
    theirs = json.loads(json.dumps(model, cls=JSONEncoder))
    problems = missing(ours, theirs)
    for m in problems:
        print(f"{path}: {m}")
    failed |= bool(problems)
    print(f"{path}: {len(model.panels or [])} panels, schemaVersion {model.schema_version}, "
          f"{'FAILED' if problems else 'ok'}")
sys.exit(1 if failed else 0)
