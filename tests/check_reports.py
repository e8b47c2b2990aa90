"""The reports analyse_checkpoint wrote, read by Python's own parsers; with EXPECTED (a JSON of "layer/head": k@0.9
computed elsewhere), each head's field rank must match it. Usage: check_reports.py OUT_DIR HEADS [EXPECTED]"""
import csv
import json
import os
import sys
import xml.etree.ElementTree as ElementTree

import report_schema

out, heads = sys.argv[1], int(sys.argv[2])
report = json.load(open(os.path.join(out, "report.json")))
report_schema.validate(report)
assert report["attnspec_version"], "no version"
assert report["provenance"]["checkpoint"], "no provenance"
assert len(report["heads"]) == heads, len(report["heads"])
for head in report["heads"]:
    for spectrum in ("field", "interaction"):
        curve = head[spectrum]["cumulative_variance"]
        assert curve[0] == 0 and abs(curve[-1] - 1) < 1e-12, (spectrum, curve[:2], curve[-1])
        assert all(a <= b for a, b in zip(curve, curve[1:])), "cumulative variance must not decrease"
        assert curve[head[spectrum]["rank_at_tau"]] >= report["options"]["tau"] - 1e-12
    assert head["stability"][0]["k"] == head["field"]["rank_at_tau"]
rows = list(csv.DictReader(open(os.path.join(out, "heads.csv"))))
assert len(rows) == heads, len(rows)
assert all(int(r["field_rank_at_tau"]) == h["field"]["rank_at_tau"] for r, h in zip(rows, report["heads"]))
svg = ElementTree.parse(os.path.join(out, "spectra.svg")).getroot()
polylines = [p.get("class") for p in svg.findall("{http://www.w3.org/2000/svg}polyline")]
for kind in ("field-cumulative", "interaction-cumulative", "field-decay", "interaction-decay"):
    assert polylines.count(kind) == heads and polylines.count(kind + "-median") == 1, (kind, polylines.count(kind))
texts = " ".join(t.text or "" for t in svg.iter("{http://www.w3.org/2000/svg}text"))
assert "number of components k" in texts and "cumulative variance fraction" in texts
assert not any(name.endswith(".partial") or ".partial." in name for name in os.listdir(out)), os.listdir(out)
if len(sys.argv) > 3:
    expected = json.load(open(sys.argv[3]))
    got = {f"{h['layer']}/{h['head']}": h["field"]["rank_at_tau"] for h in report["heads"]}
    assert got == expected, (got, expected)
    print("every head's k@0.9 matches the independent computation")
print(f"report.json, heads.csv and spectra.svg agree on {heads} heads")
