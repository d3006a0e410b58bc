"""Parses a Prometheus text file with prometheus_client's own parser and prints what it found as
JSON: one object per metric family, {"name", "type", "help", "samples": [{"name", "labels",
"value"}]}. Used by tests/it/observability.rs to check `oauthctl cleartokens --metrics-file`; a
file the parser rejects makes this exit non-zero with the parser's error.

  prom_parse.py FILE
"""
import json
import sys

from prometheus_client.parser import text_string_to_metric_families


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as f:
        text = f.read()
    families = []
    for family in text_string_to_metric_families(text):
        families.append({
            "name": family.name,
            "type": family.type,
            "help": family.documentation,
            "samples": [{"name": s.name, "labels": s.labels, "value": s.value} for s in family.samples],
        })
    json.dump(families, sys.stdout)


if __name__ == "__main__":
    main()
