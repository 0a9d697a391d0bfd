#!/usr/bin/env python3
"""dfe_measures.py: DfE's published measures computed straight from the rows
of an LA's SSDA903 tables and CIN census files, written from the guides'
and the statistical releases' definitions, not from cscflow's code.

    python3 dfe_measures.py --year 2024 --bank-holidays FILE \
        --903 DIR2023 --903 DIR2024 --cin cin-2023.xml --cin cin-2024.xml

prints one JSON object: each measure as of 31 March of --year, with its
numerator, denominator, value and, where the rows cannot settle what DfE
(holding every past return) would count, what is undetermined.

Test-only (tests/returns/compare.py runs it); standard library only.

Reading the returns. A return holds what was open at any time in its year;
the next return repeats what was still open on 31 March with what happened
since. Rows of several returns are merged by their item and start (a 903
episode by CHILD and DECOM; a CIN episode by LAchildID and CINreferralDate;
its assessments, Section 47s and plans by their start dates): the later
return's row wins, since it knows the end. Dates are DD/MM/YYYY or
YYYY-MM-DD (both occur in 903 files).

Sources (quoted where the wording is used):
 CLA  DfE, "Children looked after in England including adoptions",
      methodology and table footnotes.
 STAB DfE, "Stability measures for children looked after in England";
      NI 62 / NI 63 (LG Inform metric 850; ODI certificate of NI 063).
 ADOP DfE adoption scorecards (A1, A2, A10), LG Inform metric 912.
 CIN  DfE, "Characteristics of children in need", methodology and tables
      C2 (assessments), C4 (Section 47s and ICPCs), D3, D5, D7 (CP plans).
 RR   DfE, "Children in need: a focus on re-referrals", methodology.
 903  DfE, SSDA903 guide: RNE "S = started to be looked after; L = change
      of legal status only; P = change of placement only; T = change of
      placement, same carer; U = change of legal status and placement, same
      carer; B = change of both legal status and placement"; REC "X1 =
      episode ceases and new episode begins on the same day, for any
      reason"; placement codes A3 and A5 "placed for adoption ... with
      current foster carer(s)", A4 and A6 "... not with current foster
      carer(s)".
"""
import argparse
import csv
import datetime as dt
import json
import os
import xml.etree.ElementTree as ET

D = dt.date


def parse_date(s):
    s = (s or "").strip()
    if not s:
        return None
    if "/" in s:
        d, m, y = s.split("/")
        return D(int(y), int(m), int(d))
    return D.fromisoformat(s[:10])


def add_months(d, n):
    """'n months' is the same day n calendar months later, the month's last
    day where that day does not exist."""
    y, m = divmod(d.month - 1 + n, 12)
    y += d.year
    m += 1
    for day in (d.day, 30, 29, 28):
        try:
            return D(y, m, day)
        except ValueError:
            continue
    raise ValueError(d)


class WorkingDays:
    """Working days: Monday to Friday except England and Wales bank
    holidays (the repo's reference file, one ISO date a line)."""

    def __init__(self, path):
        self.hol = set()
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line and not line.startswith("#"):
                    self.hol.add(D.fromisoformat(line))

    def is_wd(self, d):
        return d.weekday() < 5 and d not in self.hol

    def after_to(self, a, b):
        """Working days d with a < d <= b: the day of referral (or of the
        S47's start) is day 0, as a span 'within 45 working days from the
        point of referral' is usually read."""
        n, d = 0, a + dt.timedelta(days=1)
        while d <= b:
            n += self.is_wd(d)
            d += dt.timedelta(days=1)
        return n

    def from_to(self, a, b):
        """The other reading: working days d with a <= d < b (numpy's
        busday_count, as the CIN validators count)."""
        n, d = 0, a
        while d < b:
            n += self.is_wd(d)
            d += dt.timedelta(days=1)
        return n


def ratio(num, den, **extra):
    r = {"numerator": num, "denominator": den, "value": round(100.0 * num / den, 4) if den else None}
    r.update(extra)
    return r


def mean(total, n, **extra):
    r = {"numerator": total, "denominator": n, "value": round(total / n, 4) if n else None}
    r.update(extra)
    return r


def count(n, **extra):
    r = {"numerator": n, "denominator": None, "value": n}
    r.update(extra)
    return r


# ---- SSDA903 ----------------------------------------------------------------------------

def read_table(dirs, name):
    """The rows of table `name` of each return, in return order."""
    out = []
    for i, d in enumerate(dirs):
        path = os.path.join(d, name + ".csv")
        if not os.path.exists(path):
            continue
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                row["_return"] = i
                out.append(row)
    return out


SHORT_BREAKS = ("V3", "V4")
ADOPTION_PLACEMENTS = ("A3", "A4", "A5", "A6")
WITH_FOSTER_CARER = ("A3", "A5")  # 903 guide: "with current foster carer(s)"
FOSTER = ("U1", "U2", "U3", "U4", "U5", "U6")


def periods_903(dirs):
    """Each child's periods of care from the episodes of every return: a
    list of dicts (start, known_start, end, rec, episodes, placements)."""
    eps = {}
    for r in read_table(dirs, "episodes"):
        key = (r["CHILD"], parse_date(r["DECOM"]))
        eps[key] = r  # later returns win: they know DEC and REC
    by_child = {}
    for (child, decom), r in eps.items():
        by_child.setdefault(child, []).append((decom, r))
    out = {}
    for child, rows in by_child.items():
        rows.sort(key=lambda x: x[0])
        periods, cur = [], None
        for decom, r in rows:
            rne, rec = r["RNE"], r["REC"]
            dec = parse_date(r["DEC"])
            if cur is None:
                # A period starts on its S row; a first row that is not S
                # belongs to a period begun before the returns show it.
                cur = dict(start=decom, known_start=(rne == "S"), end=None, rec="",
                           episodes=[], placements=[])
                periods.append(cur)
            ep = dict(decom=decom, rne=rne, ls=r["LS"], place=r["PLACE"], dec=dec, rec=rec)
            cur["episodes"].append(ep)
            # A placement starts on an S, P, B, T or U row (or the first row
            # the returns show); an L row changes the legal status only.
            if rne in "SPBTU" or not cur["placements"]:
                cur["placements"].append(dict(start=decom, place=r["PLACE"], rne=rne, end=None))
            else:
                cur["placements"][-1]["place"] = r["PLACE"]
            if rec and rec != "X1" and dec is not None:
                cur["end"], cur["rec"] = dec, rec
                cur = None
        for p in periods:
            pl = p["placements"]
            for i, q in enumerate(pl):
                q["end"] = pl[i + 1]["start"] if i + 1 < len(pl) else p["end"]
        out[child] = periods
    return out


def ls_on(period, d):
    """The legal status on day d: the latest episode started on or before."""
    ls = None
    for e in period["episodes"]:
        if e["decom"] <= d:
            ls = e["ls"]
    return ls


def looked_after_on(periods, d):
    """'Children looked after at 31 March', short breaks excluded: a period
    open on d (started on or before, not ended on or before), not under
    V3/V4 that day. 'Figures exclude children looked after under an agreed
    series of short-term placements' (CLA)."""
    for p in periods:
        if p["start"] <= d and (p["end"] is None or p["end"] > d):
            return p if ls_on(p, d) not in SHORT_BREAKS else None
    return None


def measures_903(dirs, T):
    ys = D(T.year - 1, 4, 1) if T.month <= 3 else D(T.year, 4, 1)
    periods = periods_903(dirs)
    dob = {}
    for r in read_table(dirs, "header"):
        dob[r["CHILD"]] = parse_date(r["DOB"])
    ad1 = {}
    for r in read_table(dirs, "ad1"):
        ad1[r["CHILD"]] = r
    m = {}

    # Looked after on 31 March.
    cla = {c: looked_after_on(ps, T) for c, ps in periods.items()}
    cla = {c: p for c, p in cla.items() if p is not None}
    m["cla_31_march"] = count(len(cla))

    # "Only the first occasion on which a child started to be looked after
    # in the year has been counted" (CLA): children with an S row in the
    # year whose legal status at entry is not V3/V4. A first row that is not
    # S is not an entry: the child was looked after before it.
    started = set()
    unknown_in_year = set()
    for c, ps in periods.items():
        for p in ps:
            if ys <= p["start"] <= T and p["episodes"][0]["ls"] not in SHORT_BREAKS:
                (started if p["known_start"] else unknown_in_year).add(c)
    m["started_in_year"] = count(len(started), continuing_first_rows_in_year=len(unknown_in_year - started))

    # "Only the last occasion on which a child ceased to be looked after in
    # the year has been counted" (CLA): children with a period ended (REC
    # other than X1) in the year, not under V3/V4 on its last day.
    ceased = set()
    for c, ps in periods.items():
        for p in ps:
            if p["end"] is not None and ys <= p["end"] <= T and \
                    ls_on(p, p["end"] - dt.timedelta(days=1)) not in SHORT_BREAKS:
                ceased.add(c)
    m["ceased_in_year"] = count(len(ceased))

    # "% CLA on 31 March with 3 or more placements during the year" (STAB,
    # ex NI 62): placements open on some day of the year, in any period;
    # "A child being placed for adoption with their existing foster carer is
    # not included as a change of placement" (NI 62): an A3/A5 placement
    # (the code says "with current foster carer") that begins the day a
    # foster placement ends is that placement continued. cscflow knows the
    # carer from the adoption journey (AD1 FOSTER_CARE = 1, which the 903
    # holds only for children adopted in its year): `by_ad1` counts so.
    def n_placements(c, by_code):
        stays = []
        for p in periods[c]:
            prev = None
            for q in p["placements"]:
                if q["start"] == q["end"]:
                    continue  # lasts no day
                cont = False
                if prev is not None and prev["end"] == q["start"] and prev["place"] in FOSTER:
                    if by_code:
                        cont = q["place"] in WITH_FOSTER_CARER
                    else:
                        a = ad1.get(c)
                        cont = q["place"] in ADOPTION_PLACEMENTS and a is not None and \
                            a["FOSTER_CARE"] == "1" and is_first_adoption_placement(p, q)
                if cont:
                    stays[-1]["end"] = q["end"]
                else:
                    stays.append(dict(start=q["start"], end=q["end"]))
                prev = q
        return sum(1 for x in stays if x["start"] <= T and (x["end"] is None or x["end"] > ys))

    three = sum(1 for c in cla if n_placements(c, True) >= 3)
    three_ad1 = sum(1 for c in cla if n_placements(c, False) >= 3)
    m["placements_3plus"] = ratio(three, len(cla), by_ad1_foster_carer=ratio(three_ad1, len(cla)))

    # Long-term stability (STAB, ex NI 63): "children under 16 who had been
    # looked after continuously for at least 2.5 years, % who were living in
    # the same placement for at least 2 years, or are placed for adoption
    # and their adoptive placement together with their previous placement
    # last for at least 2 years". The period's start is the S row's DECOM;
    # a period the returns show begun earlier (first row not S) is known
    # from its first DECOM only: such a child with that date after T - 30
    # months may be in DfE's cohort (DfE holds earlier returns) and is
    # counted as undetermined.
    cut30, cut24 = add_months(T, -30), add_months(T, -24)
    den = num = undetermined = 0
    for c, p in cla.items():
        b = dob.get(c)
        if b is None or add_months(b, 12 * 16) <= T:
            continue
        if p["start"] > cut30:
            undetermined += 0 if p["known_start"] else 1
            continue
        den += 1
        pl = [q for q in p["placements"] if q["start"] <= T]
        cur = pl[-1]
        since = cur["start"]
        if cur["place"] in ADOPTION_PLACEMENTS and len(pl) > 1 and pl[-2]["end"] == cur["start"]:
            since = pl[-2]["start"]
        num += since <= cut24
    m["placement_stability_long"] = ratio(num, den, undetermined_start=undetermined)

    # Adoption (ADOP): children adopted (REC E11, E12) in the year.
    # A1 "Average time between a child entering care and moving in with its
    # adoptive family": entering care = the period's S row; moving in = the
    # first A3-A6 placement of the period (placed for adoption).
    # A10 "adjusted for foster carer adoptions": for a child adopted by
    # their foster carer (AD1 FOSTER_CARE = 1), the day they moved in with
    # that carer: the start of the placement adopted from (the foster
    # placement the A3/A5 placement continued), back through moves that kept
    # the carer (RNE T or U).
    # A2 "Average time between a local authority receiving court authority
    # to place a child and the local authority deciding on a match to an
    # adoptive family": the placement order (the first episode of the period
    # with legal status E1) to AD1 DATE_MATCH.
    a1 = [0, 0]
    a10 = [0, 0]
    a2 = [0, 0]
    no_entry = 0
    for c, ps in periods.items():
        for p in ps:
            if p["end"] is None or not (ys <= p["end"] <= T) or p["rec"] not in ("E11", "E12"):
                continue
            pl = p["placements"]
            idx = next((i for i, q in enumerate(pl) if q["place"] in ADOPTION_PLACEMENTS), None)
            a = ad1.get(c)
            order = next((e["decom"] for e in p["episodes"] if e["ls"] == "E1"), None)
            match = parse_date(a["DATE_MATCH"]) if a else None
            if order is not None and match is not None:
                a2[0] += (match - order).days
                a2[1] += 1
            if idx is None:
                continue
            if not p["known_start"]:
                no_entry += 1
                continue
            placed = pl[idx]["start"]
            a1[0] += (placed - p["start"]).days
            a1[1] += 1
            moved_in = placed
            if a is not None and a["FOSTER_CARE"] == "1":
                j = idx - 1 if idx > 0 and pl[idx - 1]["end"] == placed else idx
                while j > 0 and pl[j]["rne"] in ("T", "U") and pl[j - 1]["end"] == pl[j]["start"]:
                    j -= 1
                moved_in = pl[j]["start"]
            a10[0] += (max(moved_in, p["start"]) - p["start"]).days
            a10[1] += 1
    m["adoption_A1"] = mean(a1[0], a1[1], undetermined_entry=no_entry)
    m["adoption_A10"] = mean(a10[0], a10[1], undetermined_entry=no_entry)
    m["adoption_A2"] = mean(a2[0], a2[1])
    return m


def is_first_adoption_placement(period, q):
    for x in period["placements"]:
        if x["place"] in ADOPTION_PLACEMENTS:
            return x is q
    return False


# ---- CIN census -------------------------------------------------------------------------

def text(el, name):
    x = el.find(name)
    return (x.text or "").strip() if x is not None and x.text else ""


def episodes_cin(paths):
    """Each child's CIN episodes merged over the censuses: the later
    census's record of an episode (and of each of its items) wins."""
    eps = {}
    for path in paths:
        root = ET.parse(path).getroot()
        for ch in root.find("Children").findall("Child"):
            cid = text(ch.find("ChildIdentifiers"), "LAchildID")
            for e in ch.findall("CINdetails"):
                ref = parse_date(text(e, "CINreferralDate"))
                key = (cid, ref)
                old = eps.get(key, dict(child=cid, ref=ref, assessments={}, s47={}, cp={}))
                old["closure"] = parse_date(text(e, "CINclosureDate"))
                for a in e.findall("Assessments"):
                    s = parse_date(text(a, "AssessmentActualStartDate"))
                    old["assessments"][s] = parse_date(text(a, "AssessmentAuthorisationDate"))
                for s in e.findall("Section47"):
                    st = parse_date(text(s, "S47ActualStartDate"))
                    old["s47"][st] = parse_date(text(s, "DateOfInitialCPC"))
                for p in e.findall("ChildProtectionPlans"):
                    st = parse_date(text(p, "CPPstartDate"))
                    prev = text(p, "NumberOfPreviousCPP")
                    old["cp"][st] = dict(start=st, end=parse_date(text(p, "CPPendDate")),
                                         prev=int(prev) if prev.isdigit() else None)
                eps[key] = old
    return eps


def measures_cin(paths, T, wd):
    ys = D(T.year - 1, 4, 1) if T.month <= 3 else D(T.year, 4, 1)
    eps = episodes_cin(paths)
    by_child = {}
    for (c, ref), e in eps.items():
        by_child.setdefault(c, []).append(e)
    m = {}
    # "A referral is defined as a request for services to be provided by
    # children's social care" (CIN): referrals (CIN episodes) received in the
    # year, those with no further action included.
    refs = [e for e in eps.values() if ys <= e["ref"] <= T]
    m["referrals"] = count(len(refs))
    # "A re-referral occurs when a child is referred within 12 months of a
    # previous referral" (RR): the previous referral dated on or after the
    # day 12 calendar months before (the text leaves the boundary day open).
    rr = 0
    for e in refs:
        lo = add_months(e["ref"], -12)
        rr += any(lo <= o["ref"] < e["ref"] for o in by_child[e["child"]])
    m["rereferrals"] = ratio(rr, len(refs))
    # Assessments completed in the year, "no longer than 45 working days
    # from the point of referral" (Working Together; CIN table C2).
    n = within = within_alt = 0
    for e in eps.values():
        for start, done in e["assessments"].items():
            if done is None or not (ys <= done <= T):
                continue
            n += 1
            within += wd.after_to(e["ref"], done) <= 45
            within_alt += wd.from_to(e["ref"], done) <= 45
    m["assessments_45wd"] = ratio(within, n, counting_first_day=ratio(within_alt, n))
    # ICPCs held in the year "within 15 working days from the start of the
    # section 47 enquiry" (CIN table C4).
    n = within = within_alt = 0
    for e in eps.values():
        for start, icpc in e["s47"].items():
            if icpc is None or not (ys <= icpc <= T):
                continue
            n += 1
            within += wd.after_to(start, icpc) <= 15
            within_alt += wd.from_to(start, icpc) <= 15
    m["icpc_15wd"] = ratio(within, n, counting_first_day=ratio(within_alt, n))
    # "Children who were the subject of a child protection plan at 31 March"
    # (CIN D5): a plan started on or before, not ended on or before.
    on_plan = {e["child"] for e in eps.values() for p in e["cp"].values()
               if p["start"] <= T and (p["end"] is None or p["end"] > T)}
    m["cp_31_march"] = count(len(on_plan))
    # "Percentage of Child Protection Plans (CPP) starting during year, which
    # were a second or subsequent plan" (CIN D3; DASH): the plan's
    # NumberOfPreviousCPP is 1 or more, or an earlier plan is in the rows.
    starts = [(e["child"], p) for e in eps.values() for p in e["cp"].values() if ys <= p["start"] <= T]
    second = 0
    for c, p in starts:
        earlier = any(q["start"] < p["start"] for o in by_child[c] for q in o["cp"].values())
        second += (p["prev"] or 0) >= 1 or earlier
    m["cp_second_or_subsequent"] = ratio(second, len(starts))
    # "The duration of a child protection plan which ended during the year
    # ... is calculated as the time between the child protection plan start
    # date and end date" (CIN D7); the key indicator "CPP 2 years or more":
    # plans ended in the year with end >= start + 24 months.
    ended = [p for e in eps.values() for p in e["cp"].values() if p["end"] and ys <= p["end"] <= T]
    two = sum(1 for p in ended if p["end"] >= add_months(p["start"], 24))
    exact = sum(1 for p in ended if p["end"] == add_months(p["start"], 24))
    m["cp_ended_2y_plus"] = ratio(two, len(ended), ended_on_second_anniversary=exact)
    return m


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--year", type=int, required=True, help="measures on 31 March of this year")
    ap.add_argument("--903", dest="s903", action="append", default=[], help="a 903 return's folder, oldest first")
    ap.add_argument("--cin", action="append", default=[], help="a CIN census XML, oldest first")
    ap.add_argument("--bank-holidays", required=True)
    a = ap.parse_args()
    T = D(a.year, 3, 31)
    wd = WorkingDays(a.bank_holidays)
    out = {"as_of": T.isoformat()}
    out.update(measures_903(a.s903, T))
    out.update(measures_cin(a.cin, T, wd))
    print(json.dumps(out, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
