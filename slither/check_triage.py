"""Fails when slither reports a High or Medium finding that slither/TRIAGE.md does not explain.

A finding's key is `<check> | <first line of its description>` with the source locations
`(path#lines)` removed, so keys survive code moving around; TRIAGE.md lists each triaged key in
backticks next to the reason. Low and informational findings are printed as a count only.
"""
from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path

LOCATION = re.compile(r" \([^()]*#[0-9-]+\)")


def finding_key(result: dict) -> str:
    first = result["description"].strip().splitlines()[0]
    return f"{result['check']} | {LOCATION.sub('', first).rstrip(':').strip()}"


def main(report_path: str, triage_path: str) -> int:
    report = json.loads(Path(report_path).read_text())
    if not report.get("success"):
        print(f"slither failed: {report.get('error')}")
        return 1
    results = report.get("results", {}).get("detectors", [])
    triage = Path(triage_path).read_text().replace("\\|", "|")   # "\|" escapes | inside a Markdown table
    serious = [r for r in results if r["impact"] in ("High", "Medium")]
    untriaged = [r for r in serious if f"`{finding_key(r)}`" not in triage]
    counts = Counter(r["impact"] for r in results)
    print("slither: " + ", ".join(f"{counts.get(k, 0)} {k.lower()}" for k in
                                  ("High", "Medium", "Low", "Informational", "Optimization")))
    for r in serious:
        print(f"  [{r['impact']}] {'UNTRIAGED ' if r in untriaged else 'triaged   '}{finding_key(r)}")
    stale = [k for k in re.findall(r"`([a-z-]+ \| [^`]+)`", triage)
             if k not in {finding_key(r) for r in serious}]
    for key in stale:
        print(f"  note: triaged but no longer reported: {key}")
    if untriaged:
        print(f"lint: {len(untriaged)} High/Medium finding(s) not in {triage_path}: fix them or add the key "
              "above with the reason (see slither/out/slither.txt for details)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
