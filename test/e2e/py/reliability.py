"""Python Celery as the client of the reliability tests: `submit URL SPEC TIMEOUT` sends every task of SPEC (a JSON
list of {name, task, args, kwargs, options}) with send_task and waits for each result; `read URL IDS TIMEOUT` waits
for the results of task ids sent another way. One JSON line per task: {name, id, state, value | type, module,
message}, the exception as AsyncResult.get() raises it. Optional 5th argument: the result backend (default: the
broker URL; rpc:// on RabbitMQ); TBW_QUEUE_TYPE=quorum declares quorum queues, as a platform with HA does."""
import os
import json
import sys
import time
from datetime import datetime, timedelta, timezone

from celery import Celery
from celery.result import AsyncResult

mode, URL, data, timeout = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), float(sys.argv[4])
app = Celery(broker=URL, backend=sys.argv[5] if len(sys.argv) > 5 else URL)
if os.environ.get("TBW_QUEUE_TYPE") == "quorum":
    app.conf.task_default_queue_type = "quorum"


def options(o):
    o = dict(o or {})
    if "eta_in_s" in o:
        o["eta"] = datetime.now(timezone.utc) + timedelta(seconds=o.pop("eta_in_s"))
    return o


if mode == "submit":
    pending = []
    for s in data:
        r = app.send_task(s["task"], args=s.get("args", []), kwargs=s.get("kwargs", {}), **options(s.get("options")))
        pending.append((s.get("name", s["task"]), r))
else:
    pending = [(i, AsyncResult(i, app=app)) for i in data]

deadline = time.time() + timeout
for name, r in pending:
    out = {"name": name, "id": r.id}
    try:
        out["value"] = r.get(timeout=max(0.1, deadline - time.time()))
        out["state"] = "SUCCESS"
    except Exception as e:  # noqa: BLE001 - the point is to report the type
        out.update(state=r.state, type=type(e).__name__, module=type(e).__module__, message=str(e))
    print(json.dumps(out, default=str), flush=True)
