"""Python Celery 5 as the real client of our worker: every check prints one JSON line {check, ok, value|error}.
argv: broker URL, result backend URL, then the checks to run (default: all)."""
import sys
import time
from datetime import datetime, timedelta, timezone

from celery import Celery, chain, chord, group, signature

from pycheck import reporter

URL, BACKEND = sys.argv[1], sys.argv[2]
only = set(sys.argv[3:])
app = Celery(broker=URL, backend=BACKEND)
app1 = Celery(broker=URL, backend=BACKEND)
app1.conf.task_protocol = 1
T = 20
report = reporter(only)

send = app.send_task
report("args", lambda: send("add_numbers", args=[2, 3]).get(timeout=T))
report("kwargs", lambda: send("add_numbers", args=[2], kwargs={"b": 40}).get(timeout=T))
report("unicode", lambda: send("echo", args=["héllo ☃"]).get(timeout=T))
report("type_error", lambda: send("add_numbers", args=[2]).get(timeout=T))
report("custom_error", lambda: send("tbw_test.raise", args=["KeyError", "missing"]).get(timeout=T))
report("domain_error", lambda: send("tbw_test.raise", args=["PaymentDeclined", "no money"]).get(timeout=T))
report("not_registered", lambda: send("no.such.task", args=[1]).get(timeout=T))
report("protocol_v1", lambda: app1.send_task("add_numbers", args=[20, 22]).get(timeout=T))


def countdown():
    t0 = time.time()
    v = send("add_numbers", args=[1, 1], countdown=1.5).get(timeout=T)
    return [v, time.time() - t0]


report("countdown", countdown)
report("expired", lambda: send("add_numbers", args=[1, 1], expires=datetime.now(timezone.utc) - timedelta(seconds=5)).get(timeout=T))
report("retries", lambda: send("tbw_test.flaky").get(timeout=T))
report("retry_request", lambda: send("tbw_test.retry_request").get(timeout=T))
report("priority", lambda: [send("add_numbers", args=[p, 0], queue="prio", priority=p).get(timeout=T) for p in (0, 3, 5, 9)])
report("soft_time_limit", lambda: send("tbw_test.sleep", args=[10], soft_time_limit=0.3).get(timeout=T))


def revoke():
    # Remote control's revoke (the node answers once every child of ours was told), then the task itself.
    replies = app.control.revoke("revoked-id-1", reply=True, limit=1, timeout=5)
    if not replies:
        raise RuntimeError("no node answered the revoke")
    return send("add_numbers", args=[1, 1], task_id="revoked-id-1").get(timeout=T)


report("revoke", revoke)
report("chain", lambda: chain(signature("add_numbers", args=[1, 2]), signature("add_numbers", args=[3]), signature("format_result_message")).apply_async().get(timeout=T))
report("group", lambda: group(signature("add_numbers", args=[i, i]) for i in range(5)).apply_async().get(timeout=T))
report("chord", lambda: chord([signature("add_numbers", args=[i, i]) for i in range(5)], signature("tbw_test.sum")).apply_async().get(timeout=T))
report("chord_failure", lambda: chord([signature("add_numbers", args=[1, 1]), signature("tbw_test.raise", args=["ValueError", "bad part"])], signature("tbw_test.sum")).apply_async().get(timeout=T))
report("chain_failure", lambda: chain(signature("add_numbers", args=[1, 2]), signature("tbw_test.raise", args=["ValueError", "mid"], immutable=True), signature("add_numbers", args=[3])).apply_async().get(timeout=T))
report("link", lambda: send("add_numbers", args=[1, 2], link=signature("add_numbers", args=[100], options={"task_id": "link-child-1"})).get(timeout=T) and app.AsyncResult("link-child-1").get(timeout=T))


def chord_body_state():
    res = chord([signature("add_numbers", args=[1, 1]), signature("tbw_test.raise", args=["ValueError", "bad part"])], signature("tbw_test.sum")).apply_async()
    try:
        res.get(timeout=T, propagate=False)
    except Exception:  # noqa: BLE001
        pass
    deadline = time.time() + T
    while res.state != "FAILURE" and time.time() < deadline:
        time.sleep(0.05)
    return [res.state, type(res.result).__name__, str(res.result)]


report("chord_body_failure", chord_body_state)
report("workflow", lambda: send("tbw_test.wf", args=[5]).get(timeout=T))
report("dag", lambda: send("tbw_test.dag", args=[2, 3]).get(timeout=T))
report("dag_failure", lambda: send("tbw_test.dag_fail", args=[2, 3]).get(timeout=T))
