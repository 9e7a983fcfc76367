"""Reads an exposition case per line on stdin (JSON: "text", "openmetrics",
"series": [[family, [[label, value], ...]], ...]) and answers a line per case:
a JSON list of findings, empty when Prometheus' own Python parsers read both
formats and find every series with its label values as they went in.

Used by the exposition fuzz target (fuzz/fuzz_targets/exposition.rs) and by
the corpus replay (tests/tests/fuzz_corpora.rs)."""
import json
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics
from prometheus_client.parser import text_string_to_metric_families as text


def findings(case):
    out = []
    for fmt, parse in (("text", text), ("openmetrics", openmetrics)):
        try:
            samples = [(f.name, s.labels) for f in parse(case[fmt]) for s in f.samples]
        except Exception as e:  # the parser's verdict, whatever its type
            out.append(f"{fmt}: refused: {e!r}")
            continue
        for family, labels in case["series"]:
            want = dict(labels)
            if not any(
                family in (name, name + "_total") and all(got.get(k, "") == v for k, v in want.items())
                for name, got in samples
            ):
                out.append(f"{fmt}: {family} {want!r} not found")
    return out


for line in sys.stdin:
    print(json.dumps(findings(json.loads(line))), flush=True)
