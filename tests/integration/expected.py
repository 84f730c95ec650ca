"""An independent model of SPEC §4 in plain Python, for the integration tests
of the read API: given the events that a daemon accepted (in arrival order)
and the snapshot's "at", it computes what every field of a unit's snapshot
must be. Nothing here is shared with the daemon's code: windows are decided
from the definitions in daemon/metrics/metrics.h's header (membership by bucket
start), percentiles are exact nearest-rank values over the raw durations, and
IKM is computed with fractions.

It also generates the test data (a seeded mix of every event type) and
compares a snapshot with the model within the tolerances of SPEC §4."""
import datetime
import math
import random
from fractions import Fraction
from zoneinfo import ZoneInfo

MIN = 60_000
HOUR = 3_600_000
DAY = 86_400_000
TZ = ZoneInfo("Asia/Jakarta")
WINDOWS = ("15m", "1h", "today", "7d", "30d")
DEFAULT_SLA = 900_000


# --- time -------------------------------------------------------------------

def local_date(ts):
    """The local calendar date (Asia/Jakarta) of a UTC ms timestamp (offsets
    change at whole seconds, so the second is enough)."""
    return datetime.datetime.fromtimestamp(ts // 1000, TZ).date()


def midnight_ms(date):
    """UTC ms of the local midnight that starts date."""
    return int(datetime.datetime(date.year, date.month, date.day, tzinfo=TZ).timestamp()) * 1000


def today_start(now):
    return midnight_ms(local_date(now))


def in_window(window, ts, now):
    """Whether an event at ts counts in window at engine time now: a window is
    a set of whole buckets (metrics.h): minute buckets with start in
    (now - 15 min, now] / (now - 1 h, now], the local day of now, hour buckets
    with start in (now - 168 h, now] / (now - 720 h, now]."""
    if window == "15m":
        return now // MIN - 15 < ts // MIN <= now // MIN
    if window == "1h":
        return now // MIN - 60 < ts // MIN <= now // MIN
    if window == "today":
        return local_date(ts) == local_date(now)
    if window == "7d":
        return now // HOUR - 168 < ts // HOUR <= now // HOUR
    if window == "30d":
        return now // HOUR - 720 < ts // HOUR <= now // HOUR
    raise ValueError(window)


def window_hours(window, now):
    """The per_hour denominator: the window's length; for today the hours since
    local midnight counting the current minute whole (values.c)."""
    if window == "today":
        elapsed = (now // MIN + 1) * MIN - today_start(now)
        return max(elapsed, MIN) / HOUR
    return {"15m": 0.25, "1h": 1, "7d": 168, "30d": 720}[window]


# --- aggregates ---------------------------------------------------------------

def nearest_rank(sorted_values, pct):
    rank = max(1, -(-pct * len(sorted_values) // 100))   # ceil, in integers
    return sorted_values[rank - 1]


def durations(values):
    if not values:
        return None
    v = sorted(values)
    return {"avg": sum(v) / len(v), "p50": nearest_rank(v, 50), "p90": nearest_rank(v, 90),
            "max": v[-1]}


def _round2_exact(fr):
    centi = math.floor(fr * 100 + Fraction(1, 2))
    return centi / 100


def ikm_grade(ikm):
    return "A" if ikm >= 88.31 else "B" if ikm >= 76.61 else "C" if ikm >= 65.00 else "D"


def aggregate(events, hours, sla_of):
    """The {"tasks", "services", "ratings"} object of one window of one scope."""
    tasks = [e for e in events if e["type"] == "task"]
    services = [e for e in events if e["type"] == "service"]
    ratings = [e for e in events if e["type"] == "rating"]
    out = {"tasks": None, "services": None, "ratings": None}
    if tasks:
        due = [e for e in tasks if "due_ts" in e]
        q = [e["quality"] for e in tasks if "quality" in e]
        out["tasks"] = {
            "count": len(tasks),
            "on_time_pct": (100 * sum(e["ts"] <= e["due_ts"] for e in due) / len(due)
                            if due else None),
            "quality_avg": sum(q) / len(q) if q else None,
            "duration_ms": durations([e["duration_ms"] for e in tasks if "duration_ms" in e]),
        }
    if services:
        counted = [e for e in services if e.get("outcome", "served") != "no_show"]
        out["services"] = {
            "count": len(counted),
            "no_show": len(services) - len(counted),
            "sla_pct": (100 * sum(e["wait_ms"] <= sla_of(e["unit"]) for e in counted) / len(counted)
                        if counted else None),
            "per_hour": len(counted) / hours,
            "wait_ms": durations([e["wait_ms"] for e in counted]),
            "service_ms": durations([e["service_ms"] for e in counted]),
        }
    if ratings:
        cit = [e for e in ratings if e.get("source", "citizen") == "citizen"]
        peer = [e["score"] for e in ratings if e.get("source") == "peer"]
        sup = [e["score"] for e in ratings if e.get("source") == "supervisor"]
        r = {"count": len(cit), "avg": None, "ikm": None, "ikm_grade": None,
             "ikm_elements": None,
             "peer_avg": sum(peer) / len(peer) if peer else None,
             "supervisor_avg": sum(sup) / len(sup) if sup else None}
        if cit:
            r["avg"] = sum(e["score"] for e in cit) / len(cit)
            # NRR per element over every citizen response (a score-only
            # response counts its score for each element), IKM = 25 x mean NRR
            nrr = [Fraction(sum(e["elements"][i] if "elements" in e else e["score"] for e in cit),
                            len(cit)) for i in range(9)]
            ikm = _round2_exact(25 * sum(nrr) / 9)
            r["ikm"] = ikm
            r["ikm_grade"] = ikm_grade(ikm)
            with_el = [e for e in cit if "elements" in e]
            if with_el:
                n = len(with_el)
                r["ikm_elements"] = [
                    _round2_exact(Fraction(25 * sum(e["elements"][i] for e in with_el), n))
                    for i in range(9)]
        out["ratings"] = r
    return out


def scope_object(events, now, sla_of):
    return {w: aggregate([e for e in events if in_window(w, e["ts"], now)], window_hours(w, now),
                         sla_of) for w in WINDOWS}


# --- presence and serving ---------------------------------------------------

def presence_and_serving(events):
    """Presence per employee and serving per (unit, counter), replaying the
    evidence in event-time order (ts, then arrival): presence is the latest
    presence event by ts, `since` when that state (same state, unit and
    counter) began; a counter's serving employee is the newest evidence by ts
    (a served/transferred service there, presence `serving` there), cleared when
    that employee's newer presence says otherwise (presence.c's rules)."""
    pres, serv = {}, {}

    def set_serving(c, emp, ts):
        s = serv.setdefault(c, {"emp": None, "since": 0, "ts": 0})
        if s["emp"] != emp:
            s["since"] = ts
        s["emp"] = emp
        s["ts"] = ts

    order = sorted(range(len(events)), key=lambda i: (events[i]["ts"], i))
    for i in order:
        e = events[i]
        ts = e["ts"]
        if e["type"] == "presence":
            emp, st, unit, ctr = e["employee"], e["state"], e["unit"], e.get("counter")
            p = pres.get(emp)
            if p and ts < p["ts"]:
                continue
            same = p is not None and (p["state"], p["unit"], p["counter"]) == (st, unit, ctr)
            was = ((p["unit"], p["counter"]) if p and p["state"] == "serving" and p["counter"]
                   else None)
            pres[emp] = {"state": st, "since": p["since"] if same else ts, "ts": ts, "unit": unit,
                         "counter": ctr}
            here = (unit, ctr) if ctr else None
            if was and was != here and was in serv and serv[was]["emp"] == emp and \
                    ts >= serv[was]["ts"]:
                set_serving(was, None, ts)
            if here and st != "serving" and here in serv and serv[here]["emp"] == emp and \
                    ts >= serv[here]["ts"]:
                set_serving(here, None, ts)
            if here and st == "serving" and (here not in serv or ts >= serv[here]["ts"]):
                set_serving(here, emp, ts)
        elif e["type"] == "service" and e.get("outcome", "served") != "no_show":
            c = (e["unit"], e["counter"])
            if c in serv and ts < serv[c]["ts"]:
                continue
            set_serving(c, e["employee"], ts)
    presence = {emp: {"state": p["state"], "since": p["since"], "counter": p["counter"]}
                for emp, p in pres.items()}
    serving = {c: ({"employee": s["emp"], "since": s["since"]} if s["emp"] else None)
               for c, s in serv.items()}
    return presence, serving


# --- the whole snapshot -----------------------------------------------------

def feedback_of(events, unit, emp, now):
    """SPEC §16: the member's last 20 feedback events of 30 days, newest first."""
    fb = [e for e in events if e["type"] == "feedback" and e["unit"] == unit
          and e["employee"] == emp and e["ts"] >= now - 30 * 86_400_000]
    fb.sort(key=lambda e: e["ts"], reverse=True)
    return [{"id": e["id"], "ts": e["ts"], "kind": e["kind"], "text": e["text"],
             "by": e.get("by"), "alert": e.get("alert"), "indicator": e.get("indicator")}
            for e in fb[:20]]


def snapshot(events, unit, now, config_units, sla=None):
    """The expected unit_metrics, members and counters of unit at engine time
    now. events: every accepted event of every unit, in arrival order.
    config_units: {unit: {"members": [...], "counters": [...]}}."""
    sla = sla or {}

    def sla_of(u):
        return sla.get(u, DEFAULT_SLA)

    metric_events = [e for e in events if e["type"] != "presence"]
    conf = config_units.get(unit, {"members": [], "counters": []})
    members = set(conf["members"]) | {e["employee"] for e in events
                                      if e["unit"] == unit and e.get("employee")}
    counters = set(conf["counters"]) | {e["counter"] for e in events
                                        if e["unit"] == unit and e.get("counter")}
    presence, serving = presence_and_serving(events)
    out = {"unit_metrics": scope_object([e for e in metric_events if e["unit"] == unit], now,
                                        sla_of),
           "members": {}, "counters": {}}
    for emp in members:
        # employee scopes are national: every unit's events of that employee
        obj = scope_object([e for e in metric_events if e.get("employee") == emp], now, sla_of)
        obj["presence"] = presence.get(emp)
        obj["feedback"] = feedback_of(events, unit, emp, now)
        out["members"][emp] = obj
    for c in counters:
        obj = scope_object([e for e in metric_events
                            if e["unit"] == unit and e.get("counter") == c], now, sla_of)
        obj["serving"] = serving.get((unit, c))
        out["counters"][c] = obj
    return out


def metric_value(obj, path):
    """The value of a metric path ("services.wait_ms.p90", "ratings.ikm",
    "ratings.ikm_elements.U3") in one window object; None when nil."""
    parts = path.split(".")
    v = obj
    for p in parts:
        if v is None:
            return None
        if isinstance(v, list):
            v = v[int(p.lstrip("U")) - 1]
        else:
            v = v.get(p)
    return v


# --- comparison ---------------------------------------------------------------

PERCENTILES = {"p50", "p90"}
EXACT_DECIMALS = {"ikm", "ikm_elements"}


def compare(got, want, path="", out=None):
    """Appends to out a line per difference between a snapshot part and the
    model: percentiles within 1 % relative or 1 ms of the exact nearest-rank
    value (SPEC §4), ikm and ikm_elements exactly to two decimals, other
    fractions within 1e-9 relative, integers and strings exactly."""
    out = [] if out is None else out
    leaf = path.rsplit(".", 1)[-1]
    if isinstance(want, dict):
        if not isinstance(got, dict):
            out.append(f"{path}: got {got!r}, want an object {want!r}")
            return out
        if set(got) != set(want):
            out.append(f"{path}: keys {sorted(got)} != {sorted(want)}")
        for k in want:
            if k in got:
                compare(got[k], want[k], f"{path}.{k}" if path else k, out)
        return out
    if isinstance(want, list):
        if not isinstance(got, list) or len(got) != len(want):
            out.append(f"{path}: got {got!r}, want {want!r}")
            return out
        for i, (g, w) in enumerate(zip(got, want)):
            compare(g, w, f"{path}[{i}]" if leaf != "ikm_elements" else f"{path}.U{i + 1}", out)
        return out
    if want is None or got is None or isinstance(want, str):
        if got != want:
            out.append(f"{path}: got {got!r}, want {want!r}")
        return out
    if not isinstance(got, (int, float)) or isinstance(got, bool):
        out.append(f"{path}: got {got!r}, want the number {want!r}")
        return out
    base = leaf.split("[")[0].split(".U")[0]
    if base in PERCENTILES:
        if abs(got - want) > max(1.0, 0.01 * abs(want)):
            out.append(f"{path}: got {got}, want {want} (exact nearest rank) +-1 % or 1 ms")
    elif base in EXACT_DECIMALS or ".ikm_elements.U" in path:
        if abs(got - want) > 1e-9 or round(got * 100) != round(want * 100):
            out.append(f"{path}: got {got!r}, want {want:.2f}")
    elif isinstance(want, int) and base not in ("avg", "per_hour"):
        if got != want or not float(got).is_integer():
            out.append(f"{path}: got {got!r}, want {want!r}")
    else:
        if abs(got - want) > 1e-9 * max(1.0, abs(want)):
            out.append(f"{path}: got {got!r}, want {want!r}")
    return out


# --- data ---------------------------------------------------------------------

def _duration(rnd, sla=None):
    r = rnd.random()
    if r < 0.06:
        return 0
    if r < 0.12:
        return rnd.randint(1, 127)
    if r < 0.16 and sla:
        return rnd.choice([sla, sla + 1, sla - 1])
    if r < 0.19:
        return 86_400_000                      # a whole day
    if r < 0.21:
        return rnd.randint(10**9, 10**10)      # days to months: large values
    if r < 0.60:
        return rnd.randint(1000, 30 * MIN)
    return min(int(rnd.lognormvariate(12, 1.5)), 10**10)


def _ts(rnd, now, today0):
    """An event time: most in the last 50 minutes, some around the 1 h edge,
    some hours and days back, a few beyond the 30-day window (but within the
    35-day max_event_age)."""
    r = rnd.random()
    if r < 0.55:
        return now - rnd.randint(0, 50 * MIN)
    if r < 0.65:
        return now - rnd.randint(50 * MIN, 75 * MIN)
    if r < 0.72:
        return rnd.randint(min(today0, now - 3 * HOUR), now)  # today, from local midnight on
    if r < 0.80:
        return now - rnd.randint(HOUR, 30 * HOUR)
    if r < 0.90:
        return now - rnd.randint(30 * HOUR, 8 * 24 * HOUR)
    if r < 0.97:
        return now - rnd.randint(8 * 24 * HOUR, 29 * 24 * HOUR)
    return now - rnd.randint(29 * 24 * HOUR + 12 * HOUR, 34 * 24 * HOUR)


def edge_times(now):
    """Event times on the edges of the windows at now (inside and just outside)."""
    m, h, d0 = now // MIN, now // HOUR, today_start(now)
    return [(m - 14) * MIN, (m - 14) * MIN - 1, (m - 59) * MIN, (m - 59) * MIN - 1,
            (h - 167) * HOUR, (h - 167) * HOUR - 1, (h - 719) * HOUR, (h - 719) * HOUR - 1,
            d0, d0 - 1, now]


class Population:
    """Who works where: kasemen's configured members and counters, members and
    counters first seen in events, an employee serving in both units, and one
    who only sends presence and tasks."""
    K = "kasemen"
    P = "perizinan"
    SITI = "198706152010011002"
    BUDI = "199001012015031001"
    NEW1 = "199203042018012003"
    NEW2 = "198511202009032004"
    BOTH = "197912312005011005"      # member of both units
    QUIET = "199500002020121006"     # presence and tasks only
    P1 = "198801012012012007"
    P2 = "199107072016022008"

    units = {K: {"members": [SITI, BUDI], "counters": ["loket-1", "loket-2"]},
             P: {"members": [], "counters": []}}
    staff = {K: [SITI, BUDI, NEW1, NEW2, BOTH], P: [BOTH, P1, P2]}
    counters = {K: ["loket-1", "loket-2", "loket-3"], P: ["loket-1", "loket-5"]}


def generate(seed, now, n_kasemen=2600, n_perizinan=600, sla=None):
    """Events for both units, as a list in the order they are to be posted.
    Presence events and served/transferred services (the evidence of who
    serves where) go in event-time order; tasks, ratings and no-shows are
    scattered through it, so many of them arrive late. Returns the list."""
    sla = sla or {}
    rnd = random.Random(seed)
    pop = Population
    today0 = today_start(now)
    ordered, scattered = [], []
    n = [0]

    def ev(unit, typ, ts, **kw):
        n[0] += 1
        e = {"id": f"g{seed % 100000}-{n[0]}", "type": typ, "ts": ts, "unit": unit}
        e.update(kw)
        return e

    edges = edge_times(now)
    for unit, count in ((pop.K, n_kasemen), (pop.P, n_perizinan)):
        usla = sla.get(unit, DEFAULT_SLA)
        for i in range(count):
            ts = edges[i % len(edges)] if i < 3 * len(edges) else _ts(rnd, now, today0)
            r = rnd.random()
            if r < 0.45:
                kw = {"employee": rnd.choice(pop.staff[unit]), "counter":
                      rnd.choice(pop.counters[unit]), "wait_ms": _duration(rnd, usla),
                      "service_ms": _duration(rnd)}
                o = rnd.random()
                if o < 0.15:
                    kw["outcome"] = "no_show"
                elif o < 0.3:
                    kw["outcome"] = "transferred"
                elif o < 0.45:
                    kw["outcome"] = "served"
                if rnd.random() < 0.5:
                    kw["service"] = rnd.choice(["ktp", "kk", "akta-lahir"])
                e = ev(unit, "service", ts, **kw)
                (scattered if kw.get("outcome") == "no_show" else ordered).append(e)
            elif r < 0.75:
                staff = pop.staff[unit] + ([pop.QUIET] if unit == pop.K else [])
                kw = {"employee": rnd.choice(staff), "kind": rnd.choice(["surat", "verifikasi"])}
                if rnd.random() < 0.7:
                    kw["due_ts"] = ts + rnd.choice([0, 0, -1, 1, rnd.randint(-HOUR, HOUR)])
                if rnd.random() < 0.7:
                    kw["quality"] = rnd.randint(0, 100)
                if rnd.random() < 0.7:
                    kw["duration_ms"] = _duration(rnd)
                scattered.append(ev(unit, "task", ts, **kw))
            else:
                kw = {"score": rnd.randint(1, 4)}
                s = rnd.random()
                if s < 0.15:
                    kw["source"] = "peer"
                elif s < 0.3:
                    kw["source"] = "supervisor"
                elif s < 0.5:
                    kw["source"] = "citizen"
                if kw.get("source", "citizen") == "citizen" and rnd.random() < 0.5:
                    kw["elements"] = [rnd.randint(1, 4) for _ in range(9)]
                if rnd.random() < 0.6 or kw.get("source") in ("peer", "supervisor"):
                    kw["employee"] = rnd.choice(pop.staff[unit])
                if rnd.random() < 0.5:
                    kw["counter"] = rnd.choice(pop.counters[unit])
                if rnd.random() < 0.3:
                    kw["service"] = "ktp"
                scattered.append(ev(unit, "rating", ts, **kw))
    # presence: a run of changes per employee over the last 50 minutes, with
    # repeated states (since stays) and moves between counters
    presence_staff = [(pop.K, e) for e in pop.staff[pop.K] + [pop.QUIET]] + \
                     [(pop.P, e) for e in (pop.P1, pop.P2)]
    for unit, emp in presence_staff:
        for ts in sorted(rnd.sample(range(now - 50 * MIN, now - 5000), 12)):
            st = rnd.choice(["available", "serving", "serving", "break", "offline"])
            if emp == pop.QUIET and st == "serving":
                st = "available"
            kw = {"employee": emp, "state": st}
            if st == "serving" or rnd.random() < 0.3:
                kw["counter"] = rnd.choice(pop.counters[unit])
            ordered.append(ev(unit, "presence", ts, **kw))
            if rnd.random() < 0.25:     # the same state again a little later
                ordered.append(ev(unit, "presence", ts + rnd.randint(1, 3000), **kw))
    ordered.sort(key=lambda e: e["ts"])
    seq = list(ordered)
    for e in scattered:
        seq.insert(rnd.randint(0, len(seq)), e)
    # a late presence event, older than QUIET's latest state and of another
    # state, arrives last: it changes nothing (latest by ts wins)
    quiet = [e for e in ordered if e["type"] == "presence" and e["employee"] == pop.QUIET]
    last = quiet[-1]
    first_of_run = last
    for e in reversed(quiet):
        if (e["state"], e.get("counter")) != (last["state"], last.get("counter")):
            break
        first_of_run = e
    other = next(s for s in ("available", "break", "offline") if s != last["state"])
    seq.append(ev(pop.K, "presence", first_of_run["ts"] - 1, employee=pop.QUIET, state=other))
    return seq
