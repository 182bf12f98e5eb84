"""Result-backend options seen from Python Celery: ignore_result, track_started, result_extended, expiry and a
result backend on its own db. argv: broker URL, result backend URL[, "store_errors": only the check for a worker on
queue "errs" with CELERY_TASK_STORE_ERRORS_EVEN_IF_IGNORED]. One JSON line per check {check, ok, value|error}."""
import json
import sys
import time

import redis
from celery import Celery

BROKER, BACKEND = sys.argv[1], sys.argv[2]
app = Celery(broker=BROKER, backend=BACKEND)
app.conf.result_extended = True
T = 20
rb = redis.Redis.from_url(BROKER)
rr = redis.Redis.from_url(BACKEND)


def report(name, fn):
    t0 = time.time()
    try:
        out = {"check": name, "ok": True, "value": fn()}
    except Exception as e:  # noqa: BLE001 - the point is to report the type
        out = {"check": name, "ok": False, "error": type(e).__name__, "message": str(e)}
    out["seconds"] = round(time.time() - t0, 3)
    print(json.dumps(out, default=str), flush=True)


def poll(pred, what, timeout=T):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.02)
    raise TimeoutError(what)


def meta_keys(r):
    return sorted(k.decode() for k in r.scan_iter("celery-task-meta-*"))


def ignore_result():
    # acks late: the message leaves `unacked` only after the task has finished and everything was stored.
    ids = [app.send_task("add_numbers", args=[i, 1], ignore_result=True).id for i in range(3)]
    failing = app.send_task("tbw_test.raise", args=["ValueError", "ignored but failed"], ignore_result=True).id
    poll(lambda: rb.llen("celery") == 0 and rb.hlen("unacked") == 0, "messages acked")
    # A normal task afterwards proves the worker is alive and writing results at all.
    after = app.send_task("add_numbers", args=[40, 2]).get(timeout=T)
    return {
        "meta": {i: [rr.exists(f"celery-task-meta-{i}"), rb.exists(f"celery-task-meta-{i}")] for i in ids},
        "failure_state": app.AsyncResult(failing).state,
        "failure_key": rr.exists(f"celery-task-meta-{failing}"),
        "after": after,
    }


def started():
    r = app.send_task("tbw_test.sleep", args=[1.5])
    poll(lambda: r.state == "STARTED", "STARTED while running")
    info = r.info
    raw = json.loads(rr.get(f"celery-task-meta-{r.id}"))
    value = r.get(timeout=T)
    return {"info": info, "raw_status": raw["status"], "value": value, "final": r.state}


def extended():
    r = app.send_task("add_numbers", args=[2], kwargs={"b": 40}, queue="celery")
    value = r.get(timeout=T)
    flaky = app.send_task("tbw_test.flaky")
    flaky.get(timeout=T)
    fresh = app.AsyncResult(r.id)  # a new object reads the stored meta, not what send_task remembered
    return {
        "value": value,
        "name": fresh.name, "args": fresh.args, "kwargs": fresh.kwargs, "worker": fresh.worker,
        "retries": fresh.retries, "queue": fresh.queue, "date_done": str(fresh.date_done),
        "flaky_retries": app.AsyncResult(flaky.id).retries,
        "raw_keys": sorted(json.loads(rr.get(f"celery-task-meta-{r.id}")).keys()),
    }


def expires():
    r = app.send_task("add_numbers", args=[1, 1])
    r.get(timeout=T)
    return {"ttl": rr.ttl(f"celery-task-meta-{r.id}"), "pttl": rr.pttl(f"celery-task-meta-{r.id}")}


def separate_db():
    r = app.send_task("echo", args=["where"])
    r.get(timeout=T)
    return {"in_backend": rr.exists(f"celery-task-meta-{r.id}"), "broker_meta_keys": meta_keys(rb)}


def store_errors():
    failing = app.send_task("tbw_test.raise", args=["ValueError", "stored anyway"], ignore_result=True, queue="errs").id
    poll(lambda: app.AsyncResult(failing).state == "FAILURE", "FAILURE stored")
    ok = app.send_task("add_numbers", args=[1, 1], ignore_result=True, queue="errs")
    after = app.send_task("add_numbers", args=[40, 2], queue="errs").get(timeout=T)
    return {"failure_state": "FAILURE", "success_key": rr.exists(f"celery-task-meta-{ok.id}"), "after": after}


if sys.argv[3:] == ["store_errors"]:
    report("store_errors", store_errors)
else:
    report("ignore_result", ignore_result)
    report("started", started)
    report("extended", extended)
    report("expires", expires)
    report("separate_db", separate_db)
