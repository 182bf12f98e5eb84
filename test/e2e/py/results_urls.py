"""Python Celery through a given broker/backend URL (password, db number, rediss:// with ssl_* parameters):
runs one task on our worker and reports where its result landed. argv: URL. Prints one JSON line."""
import json
import sys

from celery import Celery

URL = sys.argv[1]
app = Celery(broker=URL, backend=URL)
out = {}
try:
    r = app.send_task("add_numbers", args=[2], kwargs={"b": 3})
    out["value"] = r.get(timeout=20)
    fail = app.send_task("tbw_test.raise", args=["KeyError", "over tls"])
    try:
        fail.get(timeout=20)
    except Exception as e:  # noqa: BLE001 - the point is to report the type
        out["error"] = [type(e).__name__, str(e)]
    client = app.backend.client  # Celery's own redis-py client, with the URL's db, password and TLS settings
    out["exists"] = client.exists(f"celery-task-meta-{r.id}")
    out["keyspace"] = sorted(client.info("keyspace").keys())
    out["ok"] = True
except Exception as e:  # noqa: BLE001
    out = {"ok": False, "error": [type(e).__name__, str(e)]}
print(json.dumps(out, default=str), flush=True)
