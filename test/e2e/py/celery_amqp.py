"""Python Celery 5 on RabbitMQ against our worker: rpc:// results, garbage messages, a dead-letter exchange, priority
order, quorum queues with countdowns (native delayed delivery and held ETAs). argv: broker URL, then the checks to run.
Every check prints one JSON line {check, ok, value|error}."""
import json
import sys
import time

from celery import Celery, chain, group, signature
from kombu import Connection, Exchange, Queue

URL = sys.argv[1]
only = set(sys.argv[2:])
T = 20
app = Celery(broker=URL, backend="rpc://")


def report(name, fn):
    if only and name not in only:
        return
    t0 = time.time()
    try:
        out = {"check": name, "ok": True, "value": fn()}
    except Exception as e:  # noqa: BLE001 - the point is to report the type
        out = {"check": name, "ok": False, "error": type(e).__name__, "module": type(e).__module__, "message": str(e)}
    out["seconds"] = round(time.time() - t0, 3)
    print(json.dumps(out, default=str), flush=True)


send = app.send_task


def countdown():
    t0 = time.time()
    v = send("add_numbers", args=[1, 1], countdown=1.5).get(timeout=T)
    return [v, time.time() - t0]


def garbage():
    """Unrunnable messages straight onto the queue, each followed by a valid task that must still run."""
    bad = [
        (b"\x00\xffnot json", "application/json", {"id": "garbage-1", "task": "add_numbers"}),
        (b'{"unterminated": ', "application/json", {"id": "garbage-2", "task": "add_numbers"}),
        (b"\x80\x04K\x01.", "application/x-python-serialize", {"id": "garbage-3", "task": "add_numbers"}),
        (b"[[1], {}, {}]", "application/json", {}),
        (b"[[1, 2], {}, {}]", "application/json", {"id": "garbage-5", "task": "no.such.task"}),
    ]
    with Connection(URL) as conn:
        producer = conn.Producer()
        for body, ctype, headers in bad:
            producer.publish(body, exchange="", routing_key="celery", content_type=ctype,
                             content_encoding="utf-8", headers=headers, delivery_mode=2)
    values = [send("add_numbers", args=[i, 1]).get(timeout=T) for i in range(3)]
    return values


def dead_letter_exchange():
    """A queue the platform declared with a dead-letter exchange: consumed as it is, garbage lands in `dead`."""
    with Connection(URL) as conn:
        dlx = Exchange("dlx", type="fanout", durable=True)
        dead = Queue("dead", exchange=dlx, durable=True)
        dead(conn.default_channel).declare()
        producer = conn.Producer()
        producer.publish(b"garbage for the dlx", exchange="", routing_key="dlxq", content_type="application/json",
                         headers={"id": "dlx-1", "task": "add_numbers"}, delivery_mode=2)
        deadline = time.time() + T
        while time.time() < deadline:
            msg = dead(conn.default_channel).get(no_ack=True)
            if msg is not None:
                return {"body": msg.body.decode() if isinstance(msg.body, bytes) else msg.body,
                        "death": (msg.headers.get("x-death") or [{}])[0].get("reason")}
            time.sleep(0.05)
    raise TimeoutError("nothing dead-lettered")


def declare():
    """What the platform would have declared before our worker starts: a quorum queue on a direct exchange, a queue
    with a dead-letter exchange, a priority queue (its tasks published while nothing consumes it)."""
    with Connection(URL) as conn:
        ch = conn.default_channel
        Queue("qdirect", Exchange("qdirect", type="direct"), routing_key="qdirect",
              queue_arguments={"x-queue-type": "quorum"})(ch).declare()
        Queue("dlxq", Exchange("dlxq", type="direct"), routing_key="dlxq",
              queue_arguments={"x-dead-letter-exchange": "dlx"})(ch).declare()
    papp = Celery(broker=URL, backend="rpc://")
    papp.conf.task_queues = [Queue("prio", Exchange("prio"), routing_key="prio", queue_arguments={"x-max-priority": 10})]
    return [[papp.send_task("tbw_test.stamp", args=[0.02, p], queue="prio", priority=p).id, p]
            for p in [1, 9, 3, 7, 5, 0, 8, 2]]


def quorum_app(queue, exchange_type):
    qapp = Celery(broker=URL, backend="rpc://")
    qapp.conf.task_default_queue = queue
    qapp.conf.task_default_queue_type = "quorum"
    qapp.conf.task_default_exchange_type = exchange_type
    return qapp


def parked(wait):
    """Messages waiting in the native delayed delivery queues (a countdown of 2 s waits in celery_delayed_1). The
    publish is not confirmed and quorum queues report their counts with a lag: look for up to `wait` seconds."""
    deadline = time.time() + wait
    with Connection(URL) as conn:
        while True:
            ch = conn.channel()
            total = 0
            for level in range(28):
                try:
                    total += ch.queue_declare(f"celery_delayed_{level}", passive=True).message_count
                except Exception:  # noqa: BLE001 - a missing level queue: nothing parked there
                    ch = conn.channel()
            if total > 0 or time.time() > deadline:
                return total
            time.sleep(0.05)


def eta_does_not_block(capp, delayed=False):
    """A countdown task first, a plain one after it: with one slot and prefetch 1, the plain one still runs now."""
    def run():
        t0 = time.time()
        later = capp.send_task("tbw_test.stamp", args=[0, "later"], countdown=2)
        parked_now = parked(1.5 if delayed else 0)
        now = capp.send_task("tbw_test.stamp", args=[0, "now"])
        first = now.get(timeout=T)
        plain_s = time.time() - t0
        second = later.get(timeout=T)
        return {"plain_seconds": plain_s, "countdown_seconds": time.time() - t0,
                "order": [first["tag"], second["tag"]], "gap_ms": second["at"] - first["at"],
                "parked_in_delayed_queues": parked_now}

    return run


def killed_child():
    """A task whose child the test SIGKILLs while it runs (it writes its pid to $PIDFILE first)."""
    import os
    return send("tbw_test.stamp", args=[2, "victim", os.environ["PIDFILE"]]).get(timeout=60)


report("declare", declare)
report("rpc_args", lambda: send("add_numbers", args=[2, 3]).get(timeout=T))
report("rpc_kwargs", lambda: send("add_numbers", args=[2], kwargs={"b": 40}).get(timeout=T))
report("rpc_custom_error", lambda: send("tbw_test.raise", args=["KeyError", "missing"]).get(timeout=T))
report("rpc_domain_error", lambda: send("tbw_test.raise", args=["PaymentDeclined", "no money"]).get(timeout=T))
report("rpc_type_error", lambda: send("add_numbers", args=[2]).get(timeout=T))
report("rpc_countdown", countdown)
report("rpc_retries", lambda: send("tbw_test.flaky").get(timeout=T))
report("rpc_chain", lambda: chain(signature("add_numbers", args=[1, 2]), signature("add_numbers", args=[3]),
                                  signature("format_result_message")).apply_async().get(timeout=T))
report("rpc_group", lambda: group(signature("add_numbers", args=[i, i]) for i in range(5)).apply_async().get(timeout=T))
report("rpc_chord_workflow", lambda: send("tbw_test.wf", args=[5]).get(timeout=T))
report("garbage", garbage)
report("dead_letter_exchange", dead_letter_exchange)
report("eta_classic", eta_does_not_block(app))
report("eta_quorum_direct", eta_does_not_block(quorum_app("qdirect", "direct")))
report("eta_quorum_topic", eta_does_not_block(quorum_app("qtopic", "topic"), delayed=True))
report("killed_child", killed_child)
