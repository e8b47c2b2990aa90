"""The outputs of the main job (paper_table), read by Python's parsers.

    check_paper_outputs.py OUT_DIR RUNS MODEL=HEADS [MODEL=HEADS ...]

RUNS is the number of runs in report.json; each MODEL=HEADS gives a model's heads per run."""
import csv
import json
import os
import sys
import xml.etree.ElementTree as ElementTree

import report_schema

out, runs = sys.argv[1], int(sys.argv[2])
heads = {name: int(count) for name, count in (a.split("=") for a in sys.argv[3:])}
report = json.load(open(os.path.join(out, "report.json")))
report_schema.validate(report)
assert len(report["runs"]) == runs, len(report["runs"])
for run in report["runs"]:
    provenance = run["provenance"]
    assert provenance["model"] in heads and provenance["text"], provenance
    assert provenance["queries_keys"] in ("learned", "RoPE", "pre-RoPE"), provenance
    assert len(run["heads"]) == heads[provenance["model"]], (provenance, len(run["heads"]))
    for head in run["heads"]:
        assert head["field"]["rank_at_tau"] >= 1 and head["interaction"]["rank_at_tau"] >= 1
        assert head["stability"][0]["k"] == head["field"]["rank_at_tau"]
        assert head["stability"][0]["measured_max_tv"] <= head["stability"][0]["certified_max_tv"] + 1e-12
        if run["options"]["causal_field"]:
            causal = head["causal_field"]
            assert causal["cumulative_variance"][causal["rank_at_tau"]] >= run["options"]["tau"] - 1e-12
rows = list(csv.DictReader(open(os.path.join(out, "heads.csv"))))
assert len(rows) == sum(len(run["heads"]) for run in report["runs"]), len(rows)
plots = set()
for run in report["runs"]:
    plots.add(f"spectra_{run['provenance']['model']}" + ("_pre_rope" if run["provenance"]["queries_keys"] == "pre-RoPE" else ""))
for plot in sorted(plots):
    svg = ElementTree.parse(os.path.join(out, plot + ".svg")).getroot()
    assert svg.findall("{http://www.w3.org/2000/svg}polyline"), plot
print(f"{runs} runs in report.json and heads.csv; plots {', '.join(sorted(plots))}")
