"""Python Celery worker app for test/e2e/celery-interop-restore.test.ts: acks late, a short visibility timeout,
and the Python twin of tbw_test.block (blocks only when told "python-blocks")."""
import os
import time

from celery import Celery

URL = os.environ["TBW_REDIS_URL"]
app = Celery("restore", broker=URL, backend=URL)
app.conf.task_acks_late = True
app.conf.worker_prefetch_multiplier = 1
app.conf.broker_transport_options = {"visibility_timeout": float(os.environ.get("TBW_VISIBILITY_TIMEOUT", "2"))}


@app.task(name="tbw_test.block")
def block(mode=None):
    if mode == "python-blocks":
        time.sleep(3600)
    return {"by": "python", "pid": os.getpid()}
