#!/usr/bin/env python3
"""make_returns.py: one fictional LA's statutory returns, for the comparison
with DfE's published measures (tests/returns/compare.sh, docs/import.md).

    python3 make_returns.py --seed 2024 --out DIR [--years 2023,2024]

writes, for each collection year YYYY (the year ending 31 March YYYY):

  DIR/903-YYYY/{header,episodes,uasc,reviews,missing,ad1,placed_for_adoption,
                oc2,oc3,previous_permanence,sw_episodes}.csv
  DIR/cin-YYYY.xml

SSDA903 tables with the guide's column names; the CIN census XML as
feeds/cin.c reads it (<Message><Header><CollectionDetails><Year>,
<Children><Child>). Dates are DD/MM/YYYY in the first 903 year and ISO in
the others (both are what LAs send); the census uses ISO, as its schema does.

The histories are simulated from 2010 (903) and 2019 (CIN), so that the
first return already holds children in care since before it (their first
row is not an S row), and each return holds what was open at any time in its
year, repeating what the previous return showed still open, with what lies
after 31 March left blank, as a real return does.

Deterministic: the same seed gives the same files byte for byte (Python's
random with its own seeded instance; nothing read from the clock). Standard
library only. Every loop is bounded (a fixed number of children, each with a
bounded number of episodes).

The rows are valid per the guides, except one deliberate, counted set:
EDGE_CP_24M CP plans end exactly on their second anniversary (the one day
where "2 years or more" and cscflow's "open on the day it passed 24 months"
part: see docs/import.md).
"""
import argparse
import datetime as dt
import os
import random

D = dt.date
EDGE_CP_24M = 3


def add_months(d, n):
    """The same day n calendar months later (the month's last day where
    that day does not exist): DESIGN.md, Clock."""
    y, m = divmod(d.month - 1 + n, 12)
    y += d.year
    m += 1
    for day in (d.day, 30, 29, 28):
        try:
            return D(y, m, day)
        except ValueError:
            continue
    raise ValueError(d)


def days(n):
    return dt.timedelta(days=n)


class Fmt:
    def __init__(self, iso):
        self.iso = iso

    def __call__(self, d):
        if d is None:
            return ""
        return d.isoformat() if self.iso else d.strftime("%d/%m/%Y")


ETHNIC = ["WBRI"] * 14 + ["WIRI", "WOTH", "WROM", "MWBC", "MWBA", "MWAS", "MOTH", "AIND", "APKN",
                          "ABAN", "AOTH", "BCRB", "BAFR", "BOTH", "CHNE", "OOTH", "NOBT"]
FOSTER = ["U1", "U3", "U4", "U5", "U6", "U2"]
OTHER_PLACES = ["K2", "R1", "H5", "P2", "S1", "Z1"]
CHANGE_REASONS = ["CARPL", "CHILD", "LAREQ", "PLACE", "STAND", "OTHER", "ALLEG", "CREQB"]
POSTS = ["LS6 2AB", "LS7 3CD", "BD1 4EF", "WF1 5GH", "HX1 6JK", "HD1 7LM", "LS28 9NP", "YO1 2QR"]


# ---- SSDA903 ----------------------------------------------------------------------------

class Child:
    def __init__(self, cid, dob, sex, ethnic):
        self.id, self.dob, self.sex, self.ethnic = cid, dob, sex, ethnic
        self.uasc_duc = None
        self.periods = []  # each: dict(start, end, rec, episodes=[...], adoption=...)


def birthday(dob, age):
    return add_months(dob, 12 * age)


def simulate_period(rng, child, s, horizon):
    """One period of care from s: its episodes [(decom, rne, ls, place,
    provider, reason, post)], its end and REC (end None: still looked
    after at the horizon) and, on the adoption path, the journey."""
    age = (s - child.dob).days / 365.25
    eighteen = birthday(child.dob, 18)
    short_breaks = rng.random() < 0.03 and age >= 4
    adoption_path = age < 4 and rng.random() < 0.45
    uasc = child.uasc_duc is not None
    need = "N8" if uasc else rng.choice(["N1", "N1", "N1", "N2", "N4", "N5", "N6", "N7"])
    if short_breaks:
        ls = rng.choice(["V3", "V4"])
        place = rng.choice(["K2", "U1", "U3"])
        need = "N2"
    elif uasc:
        ls = "V2"
        place = rng.choice(["U4", "U6", "H5", "P2", "K2"])
    else:
        ls = rng.choices(["V2", "C2", "L2", "J2", "E1"], [55, 30, 8, 4, 0])[0]
        place = rng.choice(FOSTER) if (age < 12 or rng.random() < 0.6) else rng.choice(OTHER_PLACES)
    provider = "PR1" if place.startswith("U") and rng.random() < 0.6 else rng.choice(["PR4", "PR2", "PR5"])
    eps = [[s, "S", ls, need, place, provider, "", rng.choice(POSTS)]]
    # How long the period lasts.
    r = rng.random()
    if short_breaks:
        length = rng.randint(120, 1100)
    elif uasc:
        length = rng.randint(60, 1500)
    elif r < 0.30:
        length = rng.randint(3, 180)
    elif r < 0.60:
        length = rng.randint(180, 730)
    else:
        length = rng.randint(730, 4000)
    end = s + days(length)
    rec = None
    journey = None
    if adoption_path and not short_breaks:
        decision = s + days(rng.randint(120, 300))
        po = decision + days(rng.randint(20, 90))
        match = po + days(rng.randint(40, 200))
        placed = match + days(rng.randint(5, 40))
        adopted = placed + days(rng.randint(110, 330))
        reversed_on = None
        if rng.random() < 0.08:
            reversed_on = po + days(rng.randint(30, 150))
            match = placed = adopted = None
            end = reversed_on + days(rng.randint(60, 300))
            rec = rng.choice(["E43", "E44", "E41"])
        else:
            end, rec = adopted, ("E12" if rng.random() < 0.1 else "E11")
        journey = dict(decision=decision, po=po, match=match, placed=placed, adopted=adopted,
                       reversed=reversed_on, foster=rng.random() < 0.3)
        # Young children on the adoption path are fostered until placed.
        eps[0][4] = rng.choice(["U1", "U3", "U4"])
        eps[0][5] = "PR1"
    if end >= eighteen:
        end, rec = eighteen, rng.choice(["E17", "E8", "E5", "E3"])
    if rec is None:
        rec = (rng.choices(["E4A", "E13", "E41", "E43", "E45", "E8", "E4B", "E48", "E7"],
                           [40, 10, 6, 10, 4, 10, 6, 4, 3])[0] if not short_breaks else "E8")

    # Changes inside the period: (date, kind, value).
    changes = []
    if journey:
        changes.append((journey["po"], "L", "E1"))
        if journey["placed"]:
            changes.append((journey["placed"], "A", None))
        if journey["reversed"]:
            changes.append((journey["reversed"] + days(10), "P", None))
    elif not short_breaks:
        if ls in ("C2", "L2", "J2") or (ls == "V2" and not uasc and rng.random() < 0.35):
            t = s + days(rng.randint(20, 120))
            changes.append((t, "L", "C2" if ls != "C2" else "C1"))
            if ls != "C2":
                changes.append((t + days(rng.randint(90, 270)), "L", "C1"))
        stable = rng.random() < 0.65
        t = s
        for _ in range(12):
            t = t + days(int(rng.expovariate(1 / (900 if stable else 260))) + 7)
            if t >= end:
                break
            changes.append((t, "P", None))
    changes = sorted(c for c in changes if s < c[0] < end)
    # One episode per change date (a placement and a legal status change on
    # one day: one B row, or U when the carer stays).
    by_day = {}
    for c in changes:
        by_day.setdefault(c[0], []).append(c)
    cur = list(eps[0])
    for day in sorted(by_day):
        kinds = {c[1] for c in by_day[day]}
        new = list(cur)
        new[0] = day
        new[6] = ""
        moved = same_carer = False
        for c in by_day[day]:
            if c[1] == "L":
                new[2] = c[2]
            elif c[1] == "A":
                moved = True
                if journey["foster"] and cur[4] in FOSTER:
                    new[4], same_carer = "A5", True
                else:
                    new[4], new[5] = "A6", rng.choice(["PR0", "PR3"])
                    new[7] = rng.choice(POSTS)
            elif c[1] == "P":
                moved = True
                if rng.random() < 0.1 and cur[4] in FOSTER:
                    same_carer = True  # the same carer, re-recorded (e.g. U4 to U1)
                    new[4] = rng.choice([p for p in FOSTER if p != cur[4]])
                else:
                    young = (day - child.dob).days < 12 * 365
                    new[4] = rng.choice(FOSTER) if (young or rng.random() < 0.5) else rng.choice(OTHER_PLACES)
                    new[5] = "PR1" if new[4].startswith("U") and rng.random() < 0.6 else rng.choice(["PR4", "PR2", "PR5"])
                    new[7] = rng.choice(POSTS)
                new[6] = rng.choice(CHANGE_REASONS)
        legal = "L" in kinds and new[2] != cur[2]
        if moved and legal:
            rne = "U" if same_carer else "B"
        elif moved:
            rne = "T" if same_carer else "P"
        elif legal:
            rne = "L"
        else:
            continue  # nothing changed that day: no new episode
        new[1] = rne
        eps.append(new)
        cur = new
    return dict(start=s, end=end, rec=rec, episodes=eps, journey=journey, short=short_breaks)


def simulate_903(rng, start, horizon, per_year):
    children = []
    n = 0
    day = start
    readmit = []  # (date, child)
    t = 0.0
    while day <= horizon:
        # Entries: about per_year a year (a Poisson process in days).
        t += rng.expovariate(per_year / 365.0)
        day = start + days(int(t))
        if day > horizon:
            break
        while readmit and readmit[0][0] <= day:
            when, child = readmit.pop(0)
            p = simulate_period(rng, child, when, horizon)
            child.periods.append(p)
        n += 1
        uasc = rng.random() < 0.06
        if uasc:
            age_days = rng.randint(14 * 365, 17 * 365 + 300)
        else:
            age_days = int(rng.choices([rng.randint(0, 364), rng.randint(365, 5 * 365),
                                        rng.randint(5 * 365, 10 * 365),
                                        rng.randint(10 * 365, 16 * 365),
                                        rng.randint(16 * 365, 17 * 365 + 300)],
                                       [20, 18, 18, 36, 8])[0])
        dob = day - days(age_days)
        child = Child(str(500000 + n), dob, rng.choice(["1", "2"]), rng.choice(ETHNIC))
        if uasc:
            child.uasc_duc = birthday(dob, 18)
        p = simulate_period(rng, child, day, horizon)
        child.periods.append(p)
        children.append(child)
        if p["rec"] in ("E4A", "E4B", "E13", "E8") and rng.random() < 0.10:
            back = p["end"] + days(rng.randint(30, 600))
            if back < birthday(dob, 17) and back <= horizon:
                readmit.append((back, child))
                readmit.sort(key=lambda x: (x[0], x[1].id))
    return children


def write_csv(path, columns, rows):
    with open(path, "w", newline="") as f:
        f.write(",".join(columns) + "\r\n")
        for r in rows:
            f.write(",".join(r) + "\r\n")


def write_903(children, year, out, rng):
    ys, ye = D(year - 1, 4, 1), D(year, 3, 31)
    fmt = Fmt(iso=(year % 2 == 0))
    header, episodes, uasc, reviews, missing = [], [], [], [], []
    ad1, placed, oc2, oc3, prevperm, sw = [], [], [], [], [], []
    for c in children:
        shown = False
        for pi, p in enumerate(c.periods):
            if p["start"] > ye or (p["end"] is not None and p["end"] < ys):
                continue
            eps = p["episodes"]
            for i, e in enumerate(eps):
                dec = eps[i + 1][0] if i + 1 < len(eps) else p["end"]
                rec = "X1" if i + 1 < len(eps) else p["rec"]
                if e[0] > ye or dec < ys:
                    continue
                if dec > ye:
                    dec, rec = None, ""
                episodes.append([c.id, fmt(e[0]), e[1], e[2], e[3], e[4], e[5], fmt(dec), rec,
                                 e[6], "LS1 1AA", e[7], ""])
                shown = True
            crng = random.Random(f"{c.id}/{pi}")  # per period: the same in every year
            # Reviews: 20 working days (about 28 days), 3 months, then 6-monthly.
            r = p["start"] + days(crng.randint(10, 27))
            for _ in range(40):
                if r >= min(p["end"], ye + days(1)) or r > ye:
                    break
                if r >= ys:
                    reviews.append([c.id, fmt(c.dob), fmt(r), crng.choice(["PN1", "PN2", "PN3", "PN0", "PN4"])])
                r = add_months(r, 3 if r < p["start"] + days(40) else 6)
            # Missing episodes of older children, inside the period.
            for k in range(crng.choice([0] * 8 + [1, 2])):
                ms = p["start"] + days(crng.randint(1, 900))
                me = ms + days(crng.randint(0, 6))
                if ms < ys or ms > ye or me >= p["end"] or (ms - c.dob).days < 10 * 365:
                    continue
                missing.append([c.id, fmt(c.dob), crng.choice(["M", "A"]), fmt(ms), fmt(me if me <= ye else None)])
            j = p["journey"]
            if j:
                if j["adopted"] and ys <= j["adopted"] <= ye:
                    ad1.append([c.id, fmt(c.dob), fmt(j["decision"]), fmt(j["match"]),
                                "1" if j["foster"] and any(e[4] == "A5" for e in eps) else "0",
                                crng.choice(["1", "2"]), crng.choice(["MF", "FF", "MM", "F1"]), "L0"])
                ceased = j["adopted"] or j["reversed"]
                if j["decision"] <= ye and (ceased is None or ceased >= ys):
                    if ceased is not None and ceased <= ye:
                        placed.append([c.id, fmt(c.dob), fmt(j["decision"]), fmt(ceased),
                                       "RD1" if j["adopted"] else "RD3"])
                    else:
                        placed.append([c.id, fmt(c.dob), fmt(j["decision"]), "", ""])
            if ys <= p["start"] <= ye and not p["short"]:
                kind = crng.choices(["Z1", "P1", "P2", "P3", "P4"], [85, 4, 4, 4, 3])[0]
                when = "" if kind == "Z1" else fmt(p["start"] - days(crng.randint(400, 2000)))
                prevperm.append([c.id, fmt(c.dob), kind, "" if kind == "Z1" else "201", when])
            # One social worker per period.
            if p["start"] <= ye and p["end"] >= ys:
                swe = p["end"] if p["end"] <= ye else None
                sw.append([c.id, "SW%04d" % (int(c.id) % 97), fmt(p["start"]), fmt(swe),
                           crng.choice(["CHCHAN", "OTHERS"]) if swe else ""])
        if not shown:
            continue
        header.append([c.id, c.sex, fmt(c.dob), c.ethnic, "", "", ""])
        if c.uasc_duc is not None:
            uasc.append([c.id, c.sex, fmt(c.dob), fmt(c.uasc_duc) if c.uasc_duc <= ye else ""])
        # OC2: looked after 12 months+ on 31 March, aged 4 to 16.
        last = c.periods[-1]
        age = (ye - c.dob).days // 365
        if last["start"] <= add_months(ye, -12) and last["end"] > ye and 4 <= age <= 16 and not last["short"]:
            crng = random.Random(f"{c.id}/sdq/{year}")
            if crng.random() < 0.85:
                oc2.append([c.id, fmt(c.dob), str(crng.randint(0, 32)), ""])
            else:
                oc2.append([c.id, fmt(c.dob), "", crng.choice(["SDQ1", "SDQ2", "SDQ4"])])
    # OC3: care leavers (left care at 18) aged 19 to 21 in the year.
    for c in children:
        last = c.periods[-1]
        if last["rec"] in ("E17", "E8", "E5", "E3") and last["end"] == birthday(c.dob, 18):
            for age in (19, 20, 21):
                b = birthday(c.dob, age)
                if ys <= b <= ye:
                    crng = random.Random(f"{c.id}/oc3/{age}")
                    oc3.append([c.id, fmt(c.dob), crng.choices(["YES", "NO", "REFU", "NREQ"], [80, 10, 5, 5])[0],
                                crng.choice(["F1", "P1", "F2", "G4", "G5", "G6"]),
                                crng.choice(["B1", "C1", "D1", "E1", "S2", "T1", "U1", "V2"])])
    d = os.path.join(out, "903-%d" % year)
    os.makedirs(d, exist_ok=True)
    key = lambda r: (r[0], r[1:])
    write_csv(os.path.join(d, "header.csv"), ["CHILD", "SEX", "DOB", "ETHNIC", "UPN", "MOTHER", "MC_DOB"], header)
    write_csv(os.path.join(d, "episodes.csv"),
              ["CHILD", "DECOM", "RNE", "LS", "CIN", "PLACE", "PLACE_PROVIDER", "DEC", "REC",
               "REASON_PLACE_CHANGE", "HOME_POST", "PL_POST", "URN"], episodes)
    write_csv(os.path.join(d, "uasc.csv"), ["CHILD", "SEX", "DOB", "DUC"], uasc)
    write_csv(os.path.join(d, "reviews.csv"), ["CHILD", "DOB", "REVIEW", "REVIEW_CODE"], sorted(reviews, key=key))
    write_csv(os.path.join(d, "missing.csv"), ["CHILD", "DOB", "MISSING", "MIS_START", "MIS_END"], missing)
    write_csv(os.path.join(d, "ad1.csv"), ["CHILD", "DOB", "DATE_INT", "DATE_MATCH", "FOSTER_CARE", "NB_ADOPTR",
                                           "SEX_ADOPTR", "LS_ADOPTR"], ad1)
    write_csv(os.path.join(d, "placed_for_adoption.csv"),
              ["CHILD", "DOB", "DATE_PLACED", "DATE_PLACED_CEASED", "REASON_PLACED_CEASED"], placed)
    write_csv(os.path.join(d, "oc2.csv"), ["CHILD", "DOB", "SDQ_SCORE", "SDQ_REASON", "CONVICTED", "HEALTH_CHECK",
                                           "IMMUNISATIONS", "TEETH_CHECK", "HEALTH_ASSESSMENT",
                                           "SUBSTANCE_MISUSE", "INTERVENTION_RECEIVED",
                                           "INTERVENTION_OFFERED"],
              [r + ["0", "1", "1", "1", "1", "0", "", ""] for r in oc2])
    write_csv(os.path.join(d, "oc3.csv"), ["CHILD", "DOB", "IN_TOUCH", "ACTIV", "ACCOM"], oc3)
    write_csv(os.path.join(d, "previous_permanence.csv"), ["CHILD", "DOB", "PREV_PERM", "LA_PERM", "DATE_PERM"], prevperm)
    write_csv(os.path.join(d, "sw_episodes.csv"), ["CHILD", "SW_ID", "SW_DECOM", "SW_DEC", "SW_REASON"], sw)
    return len(header), len(episodes)


# ---- CIN census -------------------------------------------------------------------------

def simulate_cin(rng, start, horizon, per_year):
    """Children with their CIN episodes (referral to closure), each
    episode's assessment, CIN plan, Section 47s and CP plans."""
    children = []
    pool = []  # children who may be referred again: (child, not before)
    n = 0
    day = start
    edge = 0
    t = 0.0
    while True:
        t += rng.expovariate(per_year / 365.0)
        day = start + days(int(t))
        if day > horizon:
            break
        child = None
        if pool and rng.random() < 0.3:
            k = rng.randrange(len(pool))
            if pool[k][1] < day:
                child = pool.pop(k)[0]
        if child is None:
            n += 1
            dob = day - days(rng.randint(0, 17 * 365))
            child = dict(id=str(800000 + n), dob=dob, sex=rng.choice(["1", "2"]),
                         ethnic=rng.choice(ETHNIC), episodes=[],
                         prior_cp=rng.choice([0] * 30 + [1, 2]))
            children.append(child)
        r = day
        ep = dict(ref=r, source=rng.choice(["1A", "1B", "2A", "3A", "3B", "3E", "5A", "5B", "4", "6", "8", "9", "10"]),
                  need=rng.choice(["N1", "N1", "N2", "N3", "N4", "N5", "N6", "N8", "N9"]), nfa=False,
                  assessments=[], cin_plans=[], s47=[], cp=[], closure=None, reason="")
        x = rng.random()
        if x < 0.08:  # no further action at referral
            ep["nfa"], ep["closure"], ep["reason"] = True, r, "RC8"
        else:
            a = r + days(rng.randint(0, 6))
            length = max(1, int(rng.gauss(44, 24)))
            done = a + days(length)
            factors = rng.sample(["1A", "2A", "2B", "3A", "3B", "4A", "6C", "8B", "10A", "18B", "19B", "21", "22A", "24A"], rng.randint(1, 3))
            ep["assessments"].append(dict(start=a, done=done, factors=factors))
            close = done + days(rng.randint(1, 20))
            y = rng.random()
            if y < 0.2:  # Section 47, and an ICPC for most
                s = r + days(rng.randint(0, 8))
                target = s + days(21)
                s47 = dict(start=s, target=target, icpc=None, not_required=False)
                if rng.random() < 0.65:
                    wd_like = int(rng.expovariate(1 / 12.0)) + 2
                    icpc = s + days(int(wd_like * 7 / 5))
                    s47["icpc"] = icpc
                    if rng.random() < 0.85:
                        r2 = rng.random()
                        if edge < EDGE_CP_24M and D(2021, 4, 1) <= icpc <= D(2022, 3, 1):
                            cp_end = add_months(icpc, 24)
                            edge += 1
                        elif r2 < 0.06:
                            cp_end = icpc + days(rng.randint(731, 1200))
                        else:
                            cp_end = icpc + days(rng.randint(60, 600))
                        prev = child["prior_cp"] + sum(len(e["cp"]) for e in child["episodes"])
                        cat = rng.choice(["NEG", "NEG", "EMO", "EMO", "PHY", "SAB", "MUL"])
                        reviews = []
                        rv = add_months(icpc, 3) - days(rng.randint(0, 10))
                        for _ in range(10):
                            if rv >= cp_end:
                                break
                            reviews.append(rv)
                            rv = add_months(rv, 6) - days(rng.randint(0, 10))
                        ep["cp"].append(dict(start=icpc, end=cp_end, initial=cat,
                                             latest=rng.choice([cat, "EMO", "NEG"]),
                                             prev=prev, reviews=reviews))
                        close = cp_end + days(rng.randint(30, 200))
                        ep["cin_plans"].append(dict(start=cp_end, end=close))
                else:
                    s47["not_required"] = rng.random() < 0.8
                ep["s47"].append(s47)
            elif y < 0.55:
                cs = done + days(rng.randint(0, 10))
                ce = cs + days(rng.randint(60, 500))
                ep["cin_plans"].append(dict(start=cs, end=ce))
                close = ce + days(rng.randint(0, 20))
            ep["closure"], ep["reason"] = close, rng.choice(["RC8", "RC1", "RC2", "RC7", "RC9"])
        child["episodes"].append(ep)
        if rng.random() < 0.8:
            pool.append((child, ep["closure"]))
    return children


def xml_escape(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def write_cin(children, year, out):
    ys, ye = D(year - 1, 4, 1), D(year, 3, 31)
    iso = lambda d: "" if d is None else d.isoformat()

    def within(s, e):
        return s <= ye and (e is None or e >= ys)

    def el(tag, v, ind):
        return "%s<%s>%s</%s>\n" % (" " * ind, tag, xml_escape(v), tag) if v != "" else ""

    parts = ['<?xml version="1.0" encoding="utf-8"?>\n<Message>\n <Header>\n  <CollectionDetails>\n'
             '   <Collection>CIN</Collection>\n   <Year>%d</Year>\n   <ReferenceDate>%s</ReferenceDate>\n'
             '  </CollectionDetails>\n  <Source>\n   <SourceLevel>L</SourceLevel>\n   <LEA>201</LEA>\n'
             '   <SoftwareCode>make_returns.py</SoftwareCode>\n   <Release>1</Release>\n   <SerialNo>1</SerialNo>\n'
             '   <DateTime>%sT09:00:00</DateTime>\n  </Source>\n </Header>\n <Children>\n'
             % (year, ye.isoformat(), ye.isoformat())]
    n_children = n_episodes = 0
    cut = lambda d: d if d is not None and d <= ye else None
    for c in children:
        eps = [e for e in c["episodes"] if within(e["ref"], e["closure"])]
        if not eps:
            continue
        n_children += 1
        out_c = ["  <Child>\n   <ChildIdentifiers>\n", el("LAchildID", c["id"], 4), el("UPN", "", 4),
                 el("PersonBirthDate", iso(c["dob"]), 4), el("GenderCurrent", c["sex"], 4),
                 "   </ChildIdentifiers>\n   <ChildCharacteristics>\n", el("Ethnicity", c["ethnic"], 4),
                 "    <Disabilities>\n     <Disability>NONE</Disability>\n    </Disabilities>\n"
                 "   </ChildCharacteristics>\n"]
        for e in eps:
            n_episodes += 1
            closure = cut(e["closure"])
            icpc = next((s["icpc"] for s in e["s47"] if s["icpc"] and s["icpc"] <= ye), None)
            o = ["   <CINdetails>\n", el("CINreferralDate", iso(e["ref"]), 4),
                 el("ReferralSource", e["source"], 4), el("PrimaryNeedCode", e["need"], 4),
                 el("CINclosureDate", iso(closure), 4), el("ReasonForClosure", e["reason"] if closure else "", 4),
                 el("DateOfInitialCPC", iso(icpc), 4), el("ReferralNFA", "1" if e["nfa"] else "0", 4)]
            for a in e["assessments"]:
                if within(a["start"], a["done"]):
                    done = cut(a["done"])
                    o += ["    <Assessments>\n", el("AssessmentActualStartDate", iso(a["start"]), 5),
                          el("AssessmentInternalReviewDate", "", 5),
                          el("AssessmentAuthorisationDate", iso(done), 5)]
                    if done:
                        o.append("     <FactorsIdentifiedAtAssessment>\n" +
                                 "".join(el("AssessmentFactors", f, 6) for f in a["factors"]) +
                                 "     </FactorsIdentifiedAtAssessment>\n")
                    o.append("    </Assessments>\n")
            for p in e["cin_plans"]:
                if within(p["start"], p["end"]):
                    o += ["    <CINPlanDates>\n", el("CINPlanStartDate", iso(p["start"]), 5),
                          el("CINPlanEndDate", iso(cut(p["end"])), 5), "    </CINPlanDates>\n"]
            for s in e["s47"]:
                if within(s["start"], s["icpc"] or s["start"]):
                    o += ["    <Section47>\n", el("S47ActualStartDate", iso(s["start"]), 5),
                          el("InitialCPCtarget", iso(s["target"]), 5),
                          el("DateOfInitialCPC", iso(cut(s["icpc"])), 5),
                          el("ICPCnotRequired", "1" if s["not_required"] else "0", 5), "    </Section47>\n"]
            for p in e["cp"]:
                if within(p["start"], p["end"]):
                    end = cut(p["end"])
                    revs = [r for r in p["reviews"] if ys <= r <= ye]
                    o += ["    <ChildProtectionPlans>\n", el("CPPstartDate", iso(p["start"]), 5),
                          el("CPPendDate", iso(end), 5), el("InitialCategoryOfAbuse", p["initial"], 5),
                          el("LatestCategoryOfAbuse", p["latest"], 5),
                          el("NumberOfPreviousCPP", str(p["prev"]), 5)]
                    if revs:
                        o.append("     <Reviews>\n" + "".join(el("CPPreviewDate", iso(r), 6) for r in revs) +
                                 "     </Reviews>\n")
                    o.append("    </ChildProtectionPlans>\n")
            o.append("   </CINdetails>\n")
            out_c += o
        out_c.append("  </Child>\n")
        parts.append("".join(out_c))
    parts.append(" </Children>\n</Message>\n")
    with open(os.path.join(out, "cin-%d.xml" % year), "w") as f:
        f.write("".join(parts))
    return n_children, n_episodes


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--out", required=True)
    ap.add_argument("--years", default="2023,2024")
    ap.add_argument("--entries", type=int, default=640, help="903 entries to care a year")
    ap.add_argument("--referrals", type=int, default=3400, help="CIN referrals a year")
    a = ap.parse_args()
    years = [int(y) for y in a.years.split(",")]
    rng = random.Random(a.seed)
    horizon = D(max(years), 3, 31)
    lac = simulate_903(rng, D(2010, 4, 1), horizon, a.entries)
    cin = simulate_cin(random.Random(a.seed + 1), D(2019, 4, 1), horizon, a.referrals)
    os.makedirs(a.out, exist_ok=True)
    for y in years:
        nc, ne = write_903(lac, y, a.out, rng)
        cc, ce = write_cin(cin, y, a.out)
        print("year %d: 903 %d children, %d episodes; CIN census %d children, %d episodes" % (y, nc, ne, cc, ce))


if __name__ == "__main__":
    main()
