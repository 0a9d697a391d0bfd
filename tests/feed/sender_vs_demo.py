#!/usr/bin/env python3
"""sender_vs_demo.py: the published DfE CSC API sender's request sequence
(../shared/research/dfe-sender.md, section 2) against `cscflow demo`, with
only the sender's endpoint and mode settings changed (issue 19). Registered
with ctest as `sender_vs_demo`; standard library only.

    python3 sender_vs_demo.py --cscflow build/cscflow --work DIR

1. starts `cscflow demo` (2 LAs, 2 years, a new state in DIR, a free port)
   and reads the feed's URLs, a feed client and the tokens it prints;
2. does what the senders do: a form-encoded token request, then batches
   posted as the Python sender posts them, the PowerShell smoke test's fake
   child, the Python smoke test's `{}`, a Windows-1252 body (PowerShell
   5.1), a batch with a document missing child_details, and a batch sent to
   an API_ENDPOINT ending in `/` (a doubled slash). Each 200 must be a JSON
   array of one id per document that both senders parse;
3. checks that the accepted documents reached the engine: /metrics counts
   them (and the fake child as a test document), and the LA's snapshot
   lists the feed among its sources with one event per accepted document,
   its as-of date moved to the day they came;
4. stops the demo with SIGINT and expects a clean exit.

Every wait is bounded; on a failure the demo's output is printed. Exit
status 0 when every check holds.
"""
import argparse
import datetime
import gzip
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.parse

# The regex the PowerShell sender keeps a reply id with (Parse-ApiReply):
# an id it does not match is dropped, and the row is resent every night.
ID_RE = re.compile(r"^\d{4}-\d{2}-\d{2}_\d{2}:\d{2}:\d{2}\.\d{2}_.+\.json$")
# The Python sender's default (api.py sends the same header).
PYTHON_SENDER_UA = "Microsoft PowerShell/6.0.0"
BANNER_WAIT_S = 30
ENGINE_WAIT_S = 30
STOP_WAIT_S = 25


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


class Demo:
    """The demo process; its stdout is read by a thread into lines so that
    the pipe never fills (it redraws its figures every second)."""

    def __init__(self, cscflow, work):
        self.state = os.path.join(work, "state")
        self.err_path = os.path.join(work, "demo.stderr")
        self.err = open(self.err_path, "w")
        # --duration is only the backstop should this script die: it stops
        # the demo with SIGINT well before.
        self.proc = subprocess.Popen(
            [cscflow, "demo", "--duration", "120", "--las", "2", "--years", "2", "--state", self.state],
            stdout=subprocess.PIPE, stderr=self.err, stdin=subprocess.DEVNULL)
        self.lines = []
        self.cond = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for raw in self.proc.stdout:
            with self.cond:
                self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def banner(self, timeout):
        """The feed's URLs, clients and the API's tokens, once printed."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                got = parse_banner(self.lines)
                if got is not None:
                    return got
                left = deadline - time.monotonic()
                check(left > 0 and self.proc.poll() is None,
                      "the demo did not print its feed lines within %d s" % timeout)
                self.cond.wait(min(left, 0.5))

    def stop(self, timeout):
        """SIGINT (Ctrl-C, as the README says); the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.reader.join(5)
        self.err.close()

    def tail(self, n=40):
        with self.cond:
            out = "\n".join(self.lines[-n:])
        try:
            with open(self.err_path, errors="replace") as f:
                err = "".join(f.readlines()[-n:])
        except OSError:
            err = ""
        return "--- demo stdout (last %d lines) ---\n%s\n--- demo stderr (last %d lines) ---\n%s" % (
            n, out, n, err)


def parse_banner(lines):
    b = {"clients": [], "tokens": {}}
    for line in lines:
        w = line.split()
        if line.startswith("feed endpoint URL ") and len(w) == 4:
            b["endpoint"] = w[3]
        elif line.startswith("feed token URL ") and len(w) == 4:
            b["token_url"] = w[3]
        elif line.startswith("feed client ") and len(w) == 7:
            b["clients"].append(dict(zip(("la_code", "id", "secret", "supplier_key", "la"), w[2:])))
        elif line.startswith("operator token ") and len(w) == 3:
            b["operator"] = w[2]
        elif line.startswith("token ") and len(w) == 3:
            b["tokens"][w[1]] = w[2]
        elif line.startswith("dashboard: "):
            b["dashboard"] = w[1]
    if all(k in b for k in ("endpoint", "token_url", "operator", "dashboard")) and b["clients"] and \
            all(c["la"] in b["tokens"] for c in b["clients"]):
        return b
    return None


# ---- HTTP, as the senders speak it -----------------------------------------------------

def request(method, url, body=None, headers=None, timeout=30):
    """One request on a new connection (the Python sender calls
    requests.post, a new session each time); (status, headers, body)."""
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        path = u.path + ("?" + u.query if u.query else "")
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        if (r.getheader("Content-Encoding") or "").lower() == "gzip":
            data = gzip.decompress(data)  # requests would undo it; none is expected
        return r.status, r.getheader("Content-Type") or "", data
    finally:
        conn.close()


def get_token(b, client):
    """auth.py: requests.post(TOKEN_ENDPOINT, data=payload)."""
    form = urllib.parse.urlencode({
        "client_id": client["id"],
        "client_secret": client["secret"],
        "scope": "api://children-in-social-care-data-receiver/.default",
        "grant_type": "client_credentials",
    })
    status, ctype, body = request("POST", b["token_url"], form.encode("ascii"), {
        "Content-Type": "application/x-www-form-urlencoded",
        "User-Agent": "python-requests/2.32.3",
        "Accept": "*/*",
        "Accept-Encoding": "gzip, deflate",
    })
    check(status == 200, "token request: %d %r" % (status, body[:200]))
    # PowerShell parses only an application/json reply.
    check(ctype.split(";")[0].strip() == "application/json", "token reply Content-Type %r" % ctype)
    token = json.loads(body)["access_token"]
    check(isinstance(token, str) and token, "token reply has no access_token")
    return token


class Sender:
    """The data POSTs of main.py/api.py: one batch per request."""

    def __init__(self, b, client, token):
        self.client, self.token = client, token
        self.url = "%s/children_social_care_data/%s/children" % (b["endpoint"], client["la_code"])
        self.retried = 0

    def post(self, body, url=None, ua=PYTHON_SENDER_UA):
        if isinstance(body, str):
            body = body.encode("ascii")  # json.dumps: ASCII, non-ASCII as \u escapes
        headers = {
            "Authorization": "Bearer " + self.token,
            "Content-Type": "application/json",  # no charset, as both senders send it
            "SupplierKey": self.client["supplier_key"],
            "User-Agent": ua,
            "Accept": "*/*",
            "Accept-Encoding": "gzip, deflate",
        }
        # Both senders retry a 429 (the feed's answer when Kafka is slow to
        # acknowledge); PowerShell honours Retry-After. Two retries, as the
        # Python sender's three attempts.
        for attempt in range(3):
            status, ctype, data = request("POST", url or self.url, body, headers)
            if status != 429 or attempt == 2:
                return status, ctype, data
            self.retried += 1
            time.sleep(10)

    def expect_ids(self, what, reply, n):
        status, ctype, data = reply
        check(status == 200, "%s: %d %r" % (what, status, data[:300]))
        check(ctype.split(";")[0].strip() == "application/json", "%s: Content-Type %r" % (what, ctype))
        ids = json.loads(data)
        check(isinstance(ids, list) and len(ids) == n,
              "%s: expected a JSON array of %d ids, got %r" % (what, n, ids))
        for i in ids:
            check(isinstance(i, str) and ID_RE.match(i), "%s: id %r is not what PowerShell keeps" % (what, i))
            # The Python sender reads date, time and uuid cleanly only from
            # exactly three '_'-separated parts.
            check(len(i.split("_")) == 3, "%s: id %r has not three '_' parts" % (what, i))
        check(len(set(ids)) == n, "%s: ids repeat: %r" % (what, ids))
        return ids


# ---- the documents (dfe-sender.md section 3; invented, no real person) ------------------

def day(today, days_ago):
    return (today - datetime.timedelta(days=days_ago)).isoformat()


def full_doc(today, n, first, surname, mis=True, disabilities=("NONE",), sex="F", looked_after=False):
    """A full-mode document as staging.sql builds it: absent values omitted,
    never null; empty lists omitted except factors and disabilities."""
    child = "SVD%04d" % n
    d = {"la_child_id": child}
    if mis:
        d["mis_child_id"] = "MIS-" + child
    d["purge"] = False
    d["child_details"] = {
        "unique_pupil_number": "X%012d" % n,
        "first_name": first,
        "surname": surname,
        "date_of_birth": "2014-0%d-1%d" % (1 + n % 9, n % 10),
        "sex": sex,
        "ethnicity": "WBRI",
        "disabilities": list(disabilities),
        "postcode": "ZZ99 9ZZ",  # the NHS's pseudo-postcode: no real address
        "uasc_flag": False,
        "purge": False,
    }
    d["health_and_wellbeing"] = {"sdq_assessments": [{"date": day(today, 60), "score": 14}], "purge": False}
    ep = {
        "social_care_episode_id": "EP-%s" % child,
        "referral_date": day(today, 200),
        "referral_source": "1A",
        "referral_no_further_action_flag": False,
        "care_worker_details": [{"worker_id": "W%05d" % n, "start_date": day(today, 199)}],
        "child_and_family_assessments": [{
            "child_and_family_assessment_id": "CFA-%s" % child,
            "start_date": day(today, 199),
            "authorisation_date": day(today, 180),
            "factors": ["1C", "4A"],
            "purge": False,
        }],
        "child_in_need_plans": [{
            "child_in_need_plan_id": "CIN-%s" % child,
            "start_date": day(today, 170),
            "purge": False,
        }],
        "section_47_assessments": [{
            "section_47_assessment_id": "S47-%s" % child,
            "start_date": day(today, 150),
            "icpc_required_flag": True,
            "icpc_date": day(today, 140),
            "end_date": day(today, 140),
            "purge": False,
        }],
        "child_protection_plans": [{
            "child_protection_plan_id": "CP-%s" % child,
            "start_date": day(today, 140),
            "purge": False,
        }],
        "purge": False,
    }
    if looked_after:
        ep["child_looked_after_placements"] = [{
            "child_looked_after_placement_id": "PL-%s" % child,
            "start_date": day(today, 100),
            "start_reason": "S",
            "postcode": "ZZ99 9ZZ",
            "placement_type": "U1",
            "purge": False,
        }]
        ep["care_leavers"] = {"contact_date": day(today, 30), "activity": "F1", "accommodation": "B",
                              "purge": False}
    d["social_care_episodes"] = [ep]
    return d


def partial_doc(full, today):
    """What the Python sender's partial mode sends for a change to one plan:
    la_child_id, mis_child_id, the whole child_details, and the changed item
    with its id (and purge, under plans); no top-level purge."""
    ep = full["social_care_episodes"][0]
    plan = ep["child_in_need_plans"][0]
    return {
        "la_child_id": full["la_child_id"],
        "mis_child_id": full["mis_child_id"],
        "child_details": full["child_details"],
        "social_care_episodes": [{
            "social_care_episode_id": ep["social_care_episode_id"],
            "child_in_need_plans": [{"child_in_need_plan_id": plan["child_in_need_plan_id"],
                                     "end_date": day(today, 5), "purge": False}],
        }],
    }


def fake_child(la_code):
    """The PowerShell sender's (and smoke.ps1's) test record."""
    return {
        "la_child_id": "Fake1234" + la_code,
        "mis_child_id": "MIS" + la_code,
        "purge": False,
        "child_details": {"sex": "U", "disabilities": ["NONE"], "uasc_flag": False, "purge": False},
    }


# ---- what reached the engine ----------------------------------------------------------

def metrics(b):
    status, _, data = request("GET", b["dashboard"] + "metrics",
                              headers={"Authorization": "Bearer " + b["operator"]})
    check(status == 200, "/metrics: %d" % status)
    return data.decode("utf-8", "replace")


def metric(text, name, labels):
    want = "%s{%s}" % (name, ",".join('%s="%s"' % kv for kv in labels))
    for line in text.splitlines():
        if line.startswith(want + " "):
            return int(float(line.split()[-1]))
    return 0


def snapshot(b, la):
    status, _, data = request("GET", "%sv1/las/%s/snapshot" % (b["dashboard"], la),
                              headers={"Authorization": "Bearer " + b["tokens"][la]})
    return json.loads(data) if status == 200 else None


def feed_source(snap):
    for s in (snap or {}).get("sources", []):
        if s.get("source") == "dfe_csc_api":
            return s
    return None


def poll(what, timeout, fn):
    deadline = time.monotonic() + timeout
    while True:
        got = fn()
        if got is not None:
            return got
        check(time.monotonic() < deadline, "%s: not within %d s" % (what, timeout))
        time.sleep(0.25)


# ---- the run ----------------------------------------------------------------------------

def run(demo, started):
    b = demo.banner(BANNER_WAIT_S)
    client = b["clients"][0]
    la = client["la"]
    print("demo up in %.1f s; sending as client %s (LA %s, path %s)" % (
        time.monotonic() - started, client["id"], la, client["la_code"]))
    before = snapshot(b, la)
    applied_before = before["events_applied"] if before else 0
    check(feed_source(before) is None, "the feed is a source before anything was sent")

    today = datetime.datetime.now(datetime.timezone.utc).date()
    token = get_token(b, client)
    s = Sender(b, client, token)
    accepted = 0  # documents answered 200, the test child left out

    # (a) a batch of full documents: one without mis_child_id (SystemC
    # sites), one accented name (json.dumps sends \u escapes), disabilities
    # ["NONE"], one looked after.
    batch = [
        full_doc(today, 1, "Alex", "Example"),
        full_doc(today, 2, "Sam", "Sample", mis=False, sex="M"),
        full_doc(today, 3, "Zoë", "Cañón-Müller"),
        full_doc(today, 4, "Jo", "Placeholder", disabilities=("MOB", "HAND"), looked_after=True),
    ]
    body = json.dumps(batch)
    check("\\u00eb" in body and body.isascii(), "json.dumps did not escape the accented name")
    s.expect_ids("full batch", s.post(body), len(batch))
    accepted += len(batch)

    # (b) a partial-mode document; the demo's clients are full mode (the
    # recommended setting), and a partial-shaped document is still accepted.
    s.expect_ids("partial document", s.post(json.dumps([partial_doc(batch[0], today)])), 1)
    accepted += 1

    # (c) the PowerShell smoke test's fake child: 200, never produced.
    s.expect_ids("fake child", s.post(json.dumps([fake_child(client["la_code"])]),
                                      ua="D2I-CSC-Client/0.3"), 1)

    # (d) the Python smoke test's {}: 400 (test.py passes on 200/400/422).
    status, _, data = s.post(json.dumps({}))
    check(status == 400, "{}: expected 400, got %d %r" % (status, data[:200]))
    check(not re.search(rb"\[\d+\]", data), "{}: the 400 names a document: %r" % data)

    # (e) PowerShell 5.1: ConvertTo-Json leaves non-ASCII as is and the body
    # goes out as Windows-1252, not UTF-8.
    cp = [full_doc(today, 5, "Renée", "Françoise-Œuvre")]
    raw = json.dumps(cp, ensure_ascii=False, separators=(",", ":")).encode("cp1252")
    check(b"\xe9" in raw, "the Windows-1252 body has no 1252 byte")
    s.expect_ids("Windows-1252 batch", s.post(raw, ua="Mozilla/5.0 (Windows NT 10.0) WindowsPowerShell/5.1"), 1)
    accepted += 1

    # (f) a document with no child_details: 400 naming [1], and only [1];
    # nothing of the batch is produced.
    bad = [full_doc(today, 6, "Kim", "Example"), {"la_child_id": "SVD0007", "mis_child_id": "MIS-SVD0007"},
           full_doc(today, 8, "Lee", "Example")]
    status, _, data = s.post(json.dumps(bad))
    check(status == 400, "missing child_details: expected 400, got %d %r" % (status, data[:300]))
    check(re.findall(rb"\[(\d+)\]", data) == [b"1"],
          "missing child_details: the 400 must name [1] and no other bracketed number: %r" % data)
    check(b"child_details" in data, "missing child_details: the 400 does not name the field: %r" % data)

    # An API_ENDPOINT set with a trailing '/': the sender's join doubles it.
    doubled = "%s//children_social_care_data/%s/children" % (b["endpoint"], client["la_code"])
    check("//children_social_care_data" in doubled, "no doubled slash")
    s.expect_ids("doubled slash", s.post(json.dumps([full_doc(today, 9, "Ash", "Example")]), url=doubled), 1)
    accepted += 1
    sent_at = time.monotonic()

    # The feed's counters: every accepted document, the fake child as a
    # test document, [1] of the refused batch.
    text = metrics(b)
    lab = lambda o: (("la", la), ("outcome", o))
    got = {o: metric(text, "cscflow_feed_documents_total", lab(o)) for o in ("accepted", "test", "refused", "deferred")}
    check(got["accepted"] == accepted and got["test"] == 1 and got["refused"] == 1,
          "/metrics: documents %r, expected accepted %d, test 1, refused 1" % (got, accepted))
    ok = metric(text, "cscflow_feed_requests_total", (("route", "data"), ("status", "200")))
    refused = metric(text, "cscflow_feed_requests_total", (("route", "data"), ("status", "400")))
    check(ok == 5 and refused == 2, "/metrics: data requests 200: %d (5), 400: %d (2)" % (ok, refused))

    # The engine folded them: the LA's snapshot counts one feed event per
    # accepted document (the fake child is none), and the feed's receipt
    # date, later than the demo's history, is the LA's as-of date. A 429
    # retried may have put an event on the topic twice (applied once, but
    # admitted twice): then at least.
    def folded():
        snap = snapshot(b, la)
        src = feed_source(snap)
        if src is None or src["events"] < accepted:
            return None
        return snap, src
    snap, src = poll("the LA's snapshot listing the feed's %d events" % accepted, ENGINE_WAIT_S, folded)
    check(src["kind"] == "feed" and src["year"] is None, "feed source %r" % src)
    check(src["events"] == accepted or (s.retried and src["events"] > accepted),
          "the snapshot counts %d feed events, %d documents were accepted" % (src["events"], accepted))
    # The feed writes only its client's LA.
    for other in b["tokens"]:
        if other != la:
            check(feed_source(snapshot(b, other)) is None, "LA %s lists the feed among its sources" % other)
    as_of = datetime.date.fromisoformat(snap["as_of"])
    check(abs((as_of - today).days) <= 1, "as_of %s: not the feed's receipt date (%s)" % (as_of, today))
    check(snap["events_applied"] > applied_before and snap["events_applied"] >= src["events"],
          "events_applied %d (before %d)" % (snap["events_applied"], applied_before))
    print("sent %d accepted documents, 1 test child, 2 refused requests; "
          "the engine held them %.1f s after the last 200 (events_applied %d, as of %s)" % (
              accepted, time.monotonic() - sent_at, snap["events_applied"], snap["as_of"]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cscflow", required=True)
    ap.add_argument("--work", required=True)
    a = ap.parse_args()
    shutil.rmtree(a.work, ignore_errors=True)
    os.makedirs(a.work)
    started = time.monotonic()
    demo = Demo(a.cscflow, a.work)
    failed = None
    try:
        run(demo, started)
    except Failure as e:
        failed = str(e)
    except Exception as e:  # a refused connection, bad JSON: also a failure, with the output
        failed = "%s: %s" % (type(e).__name__, e)
    rc = demo.stop(STOP_WAIT_S)
    if failed is None and rc != 0:
        failed = "the demo did not stop cleanly on SIGINT: %s" % (
            "still running after %d s" % STOP_WAIT_S if rc is None else "exit status %d" % rc)
    demo.kill()
    if failed is None and not any(l.startswith("demo stopped: ") for l in demo.lines):
        failed = "the demo exited without its 'demo stopped:' line"
    if failed is not None:
        sys.stderr.write("sender_vs_demo: FAILED: %s\n%s\n" % (failed, demo.tail()))
        return 1
    print("sender_vs_demo: ok in %.1f s" % (time.monotonic() - started))
    return 0


if __name__ == "__main__":
    sys.exit(main())
