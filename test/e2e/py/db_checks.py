"""Python Celery 5 on the database result backend as the real client of our worker (and, for the mixed checks, of a
Python worker on queue "py"): every check prints one JSON line {check, ok, value|error}. argv: the checks to run
(none = all); TBW_BROKER_URL, TBW_DB_BACKEND_URL and TBW_TMP come from the environment."""
import os
import sys
import time

from celery import chord, signature
from celery.canvas import chunks, xmap, xstarmap
from celery.result import GroupResult, result_from_tuple

from db_app import app
from pycheck import reporter

only = set(sys.argv[1:])
T = 30
TMP = os.environ.get("TBW_TMP", "/tmp")
report = reporter(only)


send = app.send_task


def extended():
    r = send("add_numbers", args=[2, 3], kwargs={})
    r.get(timeout=T)
    r = app.AsyncResult(r.id)
    return {"state": r.state, "name": r.name, "args": r.args, "kwargs": r.kwargs, "queue": r.queue,
            "worker": bool(r.worker), "retries": r.retries, "date_done": r.date_done is not None}


def failure_state():
    r = send("tbw_test.raise", args=["KeyError", "missing"])
    try:
        r.get(timeout=T)
    except KeyError:
        pass
    return [r.state, type(r.result).__name__, str(r.result), "Error" in (r.traceback or "")]


def forget():
    r = send("add_numbers", args=[1, 1])
    r.get(timeout=T)
    r.forget()
    return app.AsyncResult(r.id).state


def group_roundtrip():
    rs = [send("add_numbers", args=[i, i]) for i in range(3)]
    g = GroupResult("grp-py-1", rs, app=app)
    g.save()
    back = GroupResult.restore("grp-py-1", app=app)
    values = back.get(timeout=T)
    back.delete()
    return [values, GroupResult.restore("grp-py-1", app=app) is None]


def restore_ours():
    """A group our store saved (the test saves grp-ours-1 before this runs)."""
    g = GroupResult.restore("grp-ours-1", app=app)
    return [g.id, [r.id for r in g.results]]


def link_error():
    r = send("tbw_test.raise", args=["ValueError", "boom"],
             link_error=signature("tbw_test.args", options={"task_id": "errback-1"}))
    try:
        r.get(timeout=T)
    except ValueError:
        pass
    return [app.AsyncResult("errback-1").get(timeout=T), r.id]


def hybrid(protocol):
    """A message with no task id: the platform's hybrid body under a task header, or a protocol 1 body."""
    path = os.path.join(TMP, f"hybrid-{protocol}-{os.getpid()}")
    with app.producer_or_acquire() as producer:
        if protocol == 2:
            body, headers = {"args": [path, "hybrid"], "kwargs": {}, "retries": 0, "utc": True}, {"task": "tbw_test.touch"}
        else:
            body, headers = {"task": "tbw_test.touch", "args": [path, "v1"], "kwargs": {}}, {}
        producer.publish(body, headers=headers, exchange="", routing_key="celery", serializer="json")
    deadline = time.time() + T
    while not os.path.exists(path):
        if time.time() > deadline:
            raise TimeoutError(f"{path} never written")
        time.sleep(0.05)
    time.sleep(0.1)  # the write may still be in progress
    with open(path) as f:
        return f.read()


def chord_failure(body=None):
    res = chord([signature("add_numbers", args=[1, 1]), signature("tbw_test.raise", args=["ValueError", "bad part"])],
                body or signature("tbw_test.sum")).apply_async()
    deadline = time.time() + T
    while res.state != "FAILURE" and time.time() < deadline:
        time.sleep(0.1)
    return [res.state, type(res.result).__name__, str(res.result)]


def states():
    """PENDING (no row), STARTED (track_started), RETRY, REVOKED (expired), SUCCESS with date_done in UTC."""
    from datetime import datetime, timedelta, timezone
    seen = {"pending": app.AsyncResult("never-sent-1").state}
    r = send("tbw_test.sleep", args=[1])
    deadline = time.time() + T
    while r.state == "PENDING" and time.time() < deadline:
        time.sleep(0.02)
    seen["started"] = r.state
    seen["started_pid"] = isinstance((r.info or {}).get("pid"), int)
    r.get(timeout=T)
    r = send("tbw_test.retry_request")
    deadline = time.time() + T
    state = r.state
    while state not in ("RETRY", "SUCCESS") and time.time() < deadline:
        time.sleep(0.01)
        state = r.state  # read once per look: the retried run may already be STARTED again by the next read
    seen["retry"] = state
    r.get(timeout=T)
    r = send("add_numbers", args=[1, 1], expires=datetime.now(timezone.utc) - timedelta(seconds=5))
    try:
        r.get(timeout=T)
    except Exception as e:  # noqa: BLE001
        seen["revoked"] = [r.state, type(e).__name__]
    r = send("add_numbers", args=[1, 1])
    r.get(timeout=T)
    done = app.AsyncResult(r.id).date_done
    seen["date_done_utc"] = abs((done.replace(tzinfo=timezone.utc) - datetime.now(timezone.utc)).total_seconds()) < 30
    return seen


def chunks_task():
    r = send("celery.chunks", kwargs={"task": signature("add_numbers"), "it": [[i, i] for i in range(5)], "n": 2})
    return result_from_tuple(r.get(timeout=T), app=app).get(timeout=T)


report("args", lambda: send("add_numbers", args=[2, 3]).get(timeout=T))
report("kwargs", lambda: send("add_numbers", args=[2], kwargs={"b": 40}).get(timeout=T))
report("type_error", lambda: send("add_numbers", args=[2]).get(timeout=T))
report("custom_error", lambda: send("tbw_test.raise", args=["KeyError", "missing"]).get(timeout=T))
report("domain_error", lambda: send("tbw_test.raise", args=["PaymentDeclined", "no money"]).get(timeout=T))
report("values", lambda: send("tbw_test.args", args=[None, True, 1.5, -7, 2 ** 40, "é☃", [1, [2]], {"k": {"n": None}}]).get(timeout=T))
report("extended", extended)
report("states", states)
report("failure_state", failure_state)
report("forget", forget)
report("group", group_roundtrip)
report("restore_ours", restore_ours)
report("link", lambda: send("add_numbers", args=[1, 2], link=signature("add_numbers", args=[100], options={"task_id": "link-child-1"})).get(timeout=T) and app.AsyncResult("link-child-1").get(timeout=T))
report("link_error", link_error)
# What Task.map()/.starmap()/.chunks() build, for a task this client does not have (it runs on our worker).
report("map", lambda: xmap(signature("echo"), ["a", "b"], app=app).apply_async().get(timeout=T))
report("starmap", lambda: xstarmap(signature("add_numbers"), [[1, 2], [3, 4]], app=app).apply_async().get(timeout=T))
report("chunks", lambda: chunks(signature("add_numbers"), [[i, i] for i in range(5)], 2, app=app).apply_async().get(timeout=T))
report("chunks_task", chunks_task)
report("accumulate", lambda: [send("celery.accumulate", args=[1, 2, 3]).get(timeout=T), send("celery.accumulate", args=[1, 2, 3], kwargs={"index": 1}).get(timeout=T)])
report("chord", lambda: chord([signature("add_numbers", args=[i, i]) for i in range(5)], signature("tbw_test.sum")).apply_async().get(timeout=T))
report("chord_failure", chord_failure)
report("workflow", lambda: send("tbw_test.wf", args=[5]).get(timeout=T))
report("hybrid", lambda: hybrid(2))
report("protocol1_no_id", lambda: hybrid(1))
report("backend_cleanup", lambda: send("celery.backend_cleanup").get(timeout=T))
# Mixed: a Python worker consumes "py". Header on Python, chord_unlock and body on ours:
report("mixed_py_header", lambda: chord([signature("py.add", args=[i, i]) for i in range(4)], signature("tbw_test.sum")).apply_async().get(timeout=T))
# Header on ours, body (and so chord_unlock, sent to the body's queue) on Python:
report("mixed_py_unlock", lambda: chord([signature("add_numbers", args=[i, i]) for i in range(4)], signature("py.sum", options={"queue": "py"})).apply_async().get(timeout=T))
# A chord OUR worker applies (the chain's second step), unlocked by Python (body on "py"):
report("mixed_our_chord", lambda: (signature("add_numbers", args=[1, 2]) | chord([signature("add_numbers", args=[10]), signature("add_numbers", args=[20])], signature("py.sum", options={"queue": "py"}))).apply_async().get(timeout=T))
report("mixed_py_failure", lambda: chord([signature("py.add", args=[1, 1]), signature("py.raise", args=["py part"])], signature("tbw_test.sum")).apply_async().get(timeout=T))
# The same failing chord with its chord_unlock run by Python (body on "py"): Celery's own ChordError, to compare.
report("py_unlock_failure", lambda: chord_failure(signature("py.sum", options={"queue": "py"})))
