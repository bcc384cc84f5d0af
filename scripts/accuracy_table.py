"""Markdown table of accuracies from assay results files, for BENCHMARKS.md.

python scripts/accuracy_table.py RESULTS_DIR...
"""
import glob
import json
import sys

rows = []
for d in sys.argv[1:]:
    for path in sorted(glob.glob(f"{d}/*/results.json")):
        r = json.load(open(path))
        for t in r["results"]:
            spec = next(s for s in r["spec"]["tasks"] if s["name"] == t["task"])
            for m in t["metrics"]:
                e = m
                rows.append((t["task"], t.get("format") or "", m["name"], e["value"], e["stderr"], e["ci_low"], e["ci_high"],
                             e["n"], r["spec"]["selection"], spec["num_fewshot"]))
print("| task | format | metric | value | ± stderr | 95% CI | n | items | shots |")
print("|---|---|---|---:|---:|---|---:|---|---:|")
for task, fmt, metric, v, se, lo, hi, n, sel, shots in rows:
    print(f"| {task} | {fmt} | {metric} | {100*v:.2f} | {100*se:.2f} | [{100*lo:.2f}, {100*hi:.2f}] | {n} | {sel} | {shots} |")
