#!/usr/bin/env python3
"""compare.py: cscflow's figures after importing and replaying one LA's
returns, beside DfE's measures computed straight from the same rows
(dfe_measures.py). Registered with ctest as `returns_vs_dfe`.

    python3 compare.py --cscflow build/cscflow --source . --work DIR [--seed N] [--markdown]

1. make_returns.py writes the 903 tables and CIN census of 2022-23 and
   2023-24 (seed --seed) into DIR;
2. `cscflow import 903` per year and `cscflow import cin` per census, then
   `cscflow replay` of the four event files concatenated into a new state,
   and `cscflow snapshot --json`: the LA's indicators on 31 March 2024;
3. dfe_measures.py computes each DfE measure from the files;
4. each measure is checked against the cscflow indicator it maps to:
   equal, or within 1% where a guide leaves a choice open (the choice
   named), or differing by exactly what a named difference explains.

Prints the figures side by side and the time one 903 year took to import
and replay on its own; exit status 1 when a check fails.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
LA = "201"
YEARS = (2023, 2024)


def run(cmd, **kw):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=300, **kw)
    if r.returncode != 0:
        sys.stderr.write("command failed (%d): %s\n%s%s" % (r.returncode, " ".join(cmd), r.stdout, r.stderr))
        sys.exit(1)
    return r.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cscflow", required=True)
    ap.add_argument("--source", required=True, help="the source tree (reference/ holds the bank holidays)")
    ap.add_argument("--work", required=True)
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--markdown", action="store_true", help="print the table as docs/import.md has it")
    a = ap.parse_args()
    holidays = os.path.join(a.source, "reference", "bank-holidays-england-and-wales.txt")
    w = a.work
    shutil.rmtree(w, ignore_errors=True)
    os.makedirs(w)
    print(run([sys.executable, os.path.join(HERE, "make_returns.py"), "--seed", str(a.seed), "--out", w]), end="")

    tables = lambda y: sorted(os.path.join(w, "903-%d" % y, f) for f in os.listdir(os.path.join(w, "903-%d" % y)))
    pop = os.path.join(w, "population.csv")
    with open(pop, "w") as f:
        f.write("la_code,year,population\n%s,2022,60000\n%s,2023,60500\n%s,2024,61000\n" % (LA, LA, LA))

    # One 903 year on its own, timed: import, then replay into a new state.
    t0 = time.monotonic()
    run([a.cscflow, "import", "903", "--la", LA, "--year", "2024", "--out", os.path.join(w, "t903.bin")] + tables(2024))
    t1 = time.monotonic()
    run([a.cscflow, "replay", "--input", os.path.join(w, "t903.bin"), "--state", os.path.join(w, "state-903-2024"),
         "--population", pop, "--now", "2024-04-01"])
    t2 = time.monotonic()
    with open(os.path.join(w, "903-2024", "header.csv")) as f:
        n903 = sum(1 for _ in f) - 1

    files = []
    for y in YEARS:
        out = os.path.join(w, "903-%d.bin" % y)
        run([a.cscflow, "import", "903", "--la", LA, "--year", str(y), "--out", out,
             "--report", os.path.join(w, "903-%d.json" % y)] + tables(y))
        files.append(out)
        out = os.path.join(w, "cin-%d.bin" % y)
        run([a.cscflow, "import", "cin", "--la", LA, "--out", out, "--report", os.path.join(w, "cin-%d.json" % y),
             os.path.join(w, "cin-%d.xml" % y)])
        files.append(out)
    history = os.path.join(w, "history.bin")
    with open(history, "wb") as h:
        for f in files:
            with open(f, "rb") as g:
                shutil.copyfileobj(g, h)
    state = os.path.join(w, "state")
    run([a.cscflow, "replay", "--input", history, "--state", state, "--population", pop, "--now", "2024-04-01"])
    snap = json.loads(run([a.cscflow, "snapshot", "--state", state, "--la", LA, "--json"]).splitlines()[0])
    dfe = json.loads(run([sys.executable, os.path.join(HERE, "dfe_measures.py"), "--year", "2024",
                          "--bank-holidays", holidays,
                          "--903", os.path.join(w, "903-2023"), "--903", os.path.join(w, "903-2024"),
                          "--cin", os.path.join(w, "cin-2023.xml"), "--cin", os.path.join(w, "cin-2024.xml")]))

    ind = {(v["id"], v["window"], v["breakdown"]): v for v in snap["indicators"]}
    failures = []
    rows = []

    def get(key):
        v = ind.get(key)
        if v is None:
            failures.append("cscflow has no indicator %s" % (key,))
            return {"numerator": None, "denominator": None, "value": None}
        return v

    def fmt(v, kind):
        if v["value"] is None and v["denominator"] in (None, 0) and kind != "count":
            return "none (0 counted)"
        if kind == "count":
            return "%s" % v["value"]
        if kind == "mean":
            return "%.1f days (%s/%s)" % (v["value"], v["numerator"], v["denominator"])
        return "%.1f%% (%s/%s)" % (v["value"], v["numerator"], v["denominator"])

    def check(name, definition, key, kind, want_num, want_den=None, verdict="equal", dfe_v=None):
        """cscflow's indicator `key` must have numerator want_num and
        denominator want_den (what the named rule says cscflow gives)."""
        c = get(key)
        d = dfe_v if dfe_v is not None else dfe[name]
        ok = c["numerator"] == want_num and (want_den is None or c["denominator"] == want_den)
        if kind == "count":
            ok = c["value"] == want_num
        if not ok:
            failures.append("%s: cscflow %s %s/%s, expected %s/%s (%s)" % (
                name, "/".join(key), c["numerator"], c["denominator"], want_num, want_den, verdict))
            verdict = "MISMATCH (expected: %s)" % verdict
        rows.append((name, definition, fmt(d, kind), fmt(c, kind), "/".join(k for k in key if k), verdict))

    # ---- SSDA903 -------------------------------------------------------------------------
    d = dfe["cla_31_march"]
    check("cla_31_march", "children looked after on 31 March, V3/V4 excluded",
          ("children_on_plan", "T", "LAC"), "count", d["value"])
    d = dfe["started_in_year"]
    check("started_in_year", "children starting to be looked after in the year (first occasion; S rows, not V3/V4)",
          ("care_entries", "FYTD", ""), "count", d["value"],
          verdict="equal (a first row that is not S is no entry: PeriodOfCareStarted.continuing)")
    d = dfe["ceased_in_year"]
    c = get(("care_exits_permanence", "FYTD", "adoption"))
    ok = c["denominator"] == d["value"]
    if not ok:
        failures.append("ceased_in_year: cscflow %s, rows %s" % (c["denominator"], d["value"]))
    rows.append(("ceased_in_year", "children ceasing to be looked after in the year (last occasion, not V3/V4)",
                 str(d["value"]), str(c["denominator"]), "care_exits_permanence/FYTD/adoption (denominator)",
                 "equal" if ok else "MISMATCH"))
    d = dfe["placements_3plus"]
    # A3/A5 ("with current foster carer(s)") set the placed milestone's
    # foster-carer flag in the importer, so cscflow reads the rows as DfE does.
    check("placements_3plus", "looked after on 31 March with 3+ placements in the year (placed for adoption with "
          "the foster carer is no move)", ("placements_3plus", "FYTD", ""), "ratio",
          d["numerator"], d["denominator"], verdict="equal")
    d = dfe["placement_stability_long"]
    check("placement_stability_long", "under 16, looked after 2.5 years+, same placement 2 years+ (or placed for "
          "adoption, with the previous placement)", ("placement_stability_long", "T", ""), "ratio",
          d["numerator"], d["denominator"],
          verdict="equal on the known starts; %d children whose period began before the first return are "
          "undetermined from two years of rows (DfE's cohort may hold them)" % d["undetermined_start"])
    for name, bucket, text in (("adoption_A1", "A1", "entering care to placed for adoption, mean days"),
                               ("adoption_A10", "A10", "A1 adjusted for foster-carer adoptions, mean days")):
        d = dfe[name]
        check(name, text, ("adoption_timeliness", "12m", bucket), "mean", d["numerator"], d["denominator"],
              verdict="equal over the adoptions whose entry to care the rows show (%d adopted from a period "
              "begun before the returns: undetermined)" % d["undetermined_entry"])
    d = dfe["adoption_A2"]
    # The 903 importer records the placement order (legal status E1) as the
    # journey's PLACEMENT_ORDER milestone.
    check("adoption_A2", "placement order (first E1 episode) to match (AD1 DATE_MATCH), mean days",
          ("adoption_timeliness", "12m", "A2"), "mean", d["numerator"], d["denominator"],
          verdict="equal")

    # ---- CIN census ----------------------------------------------------------------------
    d = dfe["referrals"]
    check("referrals", "referrals received in the year (NFA included)", ("referrals", "FYTD", ""), "count", d["value"])
    d = dfe["rereferrals"]
    check("rereferrals", "referrals within 12 months of the child's previous referral",
          ("rereferrals", "FYTD", ""), "ratio", d["numerator"], d["denominator"],
          verdict="equal (choice: a previous referral on the day 12 months before counts)")

    def within_1pct(name, definition, key, alt_label):
        d = dfe[name]
        check(name, definition, key, "ratio", d["numerator"], d["denominator"],
              verdict="equal (choice: working days after the start day to the end day, the start day not "
              "counted); the other reading (%s) gives %.2f%%, %.2f points away" % (
                  alt_label, d["counting_first_day"]["value"],
                  abs(d["counting_first_day"]["value"] - d["value"])))
        if abs(d["counting_first_day"]["value"] - d["value"]) > 1.0:
            failures.append("%s: the two readings of working days differ by more than 1%%" % name)

    within_1pct("assessments_45wd", "assessments completed in the year within 45 working days of the referral",
                ("referral_to_assessment_wd", "12m", "within_45"), "start day counted, end day not")
    within_1pct("icpc_15wd", "ICPCs in the year within 15 working days of the S47 start",
                ("s47_to_icpc_wd", "12m", "within_15"), "start day counted, end day not")
    d = dfe["cp_31_march"]
    check("cp_31_march", "children on a CP plan on 31 March", ("children_on_plan", "T", "CP"), "count", d["value"])
    d = dfe["cp_second_or_subsequent"]
    check("cp_second_or_subsequent", "CP plans started in the year that are a second or subsequent plan",
          ("repeat_plan", "FYTD", "CP,ever"), "ratio", d["numerator"], d["denominator"])
    d = dfe["cp_ended_2y_plus"]
    exact = d["ended_on_second_anniversary"]
    check("cp_ended_2y_plus", "CP plans ended in the year that lasted 2 years or more",
          ("ended_plans_over", "FYTD", "CP,24m"), "ratio", d["numerator"] - exact, d["denominator"],
          verdict="differs by %d: plans ended exactly on their second anniversary lasted '2 years or more' "
          "for DfE; cscflow counts a plan open on the day it passed 24 months (docs/indicators.md)" % exact)

    secs903 = t2 - t0
    if a.markdown:
        print("| measure | DfE definition (short) | from the rows | cscflow | cscflow indicator | verdict |")
        print("|---|---|---|---|---|---|")
        for r in rows:
            print("| %s | %s | %s | %s | `%s` | %s |" % r)
    else:
        print("%-26s %-28s %-28s %s" % ("measure", "from the rows (DfE)", "cscflow", "verdict"))
        for r in rows:
            print("%-26s %-28s %-28s %s" % (r[0], r[2], r[3], r[5]))
    print("903 year 2023-24: %d children, import %.2f s + replay %.2f s = %.2f s" % (n903, t1 - t0, t2 - t1, secs903))
    if secs903 > 30:
        failures.append("the 903 year took %.1f s to import and replay (seconds expected)" % secs903)
    for f in failures:
        print("FAIL: " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
