"""The outputs of the main job (paper_table), read by Python's parsers. Usage: check_paper_outputs.py OUT_DIR RUNS HEADS"""
import csv
import json
import os
import sys
import xml.etree.ElementTree as ElementTree

out, runs, heads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
report = json.load(open(os.path.join(out, "report.json")))
assert len(report["runs"]) == runs, len(report["runs"])
for run in report["runs"]:
    assert run["provenance"]["model"] and run["provenance"]["text"], run["provenance"]
    assert len(run["heads"]) == heads
    for head in run["heads"]:
        assert head["field"]["rank_at_tau"] >= 1 and head["interaction"]["rank_at_tau"] >= 1
        assert head["stability"][0]["k"] == head["field"]["rank_at_tau"]
        assert head["stability"][0]["measured_max_tv"] <= head["stability"][0]["certified_max_tv"] + 1e-12
rows = list(csv.DictReader(open(os.path.join(out, "heads.csv"))))
assert len(rows) == runs * heads, len(rows)
models = sorted({run["provenance"]["model"] for run in report["runs"]})
for model in models:
    svg = ElementTree.parse(os.path.join(out, f"spectra_{model}.svg")).getroot()
    assert svg.findall("{http://www.w3.org/2000/svg}polyline"), model
print(f"{runs} runs x {heads} heads in report.json and heads.csv; plots for {', '.join(models)}")
