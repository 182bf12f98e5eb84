"""Remote control that changes how tasks run, against our node: rate_limit (Celery semantics, one token bucket per
task name for the whole node), time_limit, inspect registered with attributes, and autoscale on a fixed pool.
Usage: control_limits.py BROKER_URL NODE. Every check prints one JSON line {check, ok, value|error}."""
import json
import sys
import time

from celery import Celery

URL, NODE = sys.argv[1], sys.argv[2]
app = Celery(broker=URL, backend=URL)


def report(name, fn):
    t0 = time.time()
    try:
        out = {"check": name, "ok": True, "value": fn()}
    except Exception as e:  # noqa: BLE001 - the point is to report the type
        out = {"check": name, "ok": False, "error": type(e).__name__, "message": str(e)}
    out["seconds"] = round(time.time() - t0, 3)
    print(json.dumps(out, default=str), flush=True)


def control(method, *args, **kwargs):
    replies = getattr(app.control, method)(*args, reply=True, destination=[NODE], timeout=3, **kwargs)
    return [r.get(NODE) for r in replies]


def first_ready(rs, timeout):
    """The first of `rs` to finish (its index), waiting up to `timeout` s; None if none did."""
    end = time.time() + timeout
    while time.time() < end:
        for i, r in enumerate(rs):
            if r.ready():
                return i
        time.sleep(0.02)
    return None


def rate_limited():
    set_reply = control("rate_limit", "add_numbers", "2/m")
    registered = app.control.inspect(destination=[NODE], timeout=3).registered("rate_limit") or {}
    t0 = time.time()
    rs = [app.send_task("add_numbers", args=[i, 1]) for i in range(3)]
    # One token for the whole node: one of the three runs at once. Which one is the order in which the children
    # asked for it (the three may land in different children), not always the order they were sent.
    i1 = first_ready(rs, 10)
    first_s = time.time() - t0
    rest = [r for i, r in enumerate(rs) if i != i1]
    # The bucket (capacity 1, refilled every 30 s) is empty now: the other two wait, however many children idle.
    time.sleep(3)
    waiting_at_3s = [r.ready() for r in rest]
    i2 = first_ready(rest, 45)
    second_s = time.time() - t0
    last = [r for i, r in enumerate(rest) if i != i2]
    third_ready_then = last[0].ready() if len(last) == 1 else None
    # Lifting the limit lets the last one run at once (instead of waiting for its own token, 30 s on).
    lift = control("rate_limit", "add_numbers", "")
    results = sorted(r.get(timeout=10) for r in rs)
    return {
        "set": set_reply,
        "registered": registered.get(NODE),
        "results": results,
        "first_s": round(first_s, 2),
        "waiting_at_3s": waiting_at_3s,
        "second_s": round(second_s, 2),
        "third_ready_when_second_done": third_ready_then,
        "lift": lift,
        "third_s": round(time.time() - t0, 2),
    }


def time_limited():
    reply = control("time_limit", "simulate_work", soft=0.5, hard=2)
    t0 = time.time()
    r = app.send_task("simulate_work", args=[20])
    try:
        r.get(timeout=15)
        raised = None
    except Exception as e:  # noqa: BLE001
        raised = type(e).__name__
    return {"reply": reply, "raised": raised, "seconds": round(time.time() - t0, 2)}


def autoscale_fixed():
    return control("autoscale", 3, 1)


report("autoscale", autoscale_fixed)
report("time_limit", time_limited)
report("rate_limit", rate_limited)
