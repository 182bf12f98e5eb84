"""Print every Celery event on the broker as one JSON line, with Python's own type of each field.

Runs until killed; prints {"ready": true} once it listens. `shape` names each field's type as Python decoded it
(int and float differ there, unlike in JavaScript), with `isotime` for datetime.isoformat() text in UTC.
"""
import json
import re
import sys

from fidelity_app import app

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?\+00:00$")


def kind(v):
    if isinstance(v, str) and ISO.match(v):
        return "isotime"
    return type(v).__name__


def on_event(e):
    shape = {k: kind(v) for k, v in e.items()}
    print(json.dumps({"event": e, "shape": shape}, default=str), flush=True)


class Watcher(app.events.Receiver):
    def on_consume_ready(self, connection, channel, consumers, **kwargs):
        # The event queue is declared and consumed: say so before the first event arrives.
        super().on_consume_ready(connection, channel, consumers, **kwargs)
        print(json.dumps({"ready": True}), flush=True)


with app.connection() as conn:
    Watcher(conn, handlers={"*": on_event}).capture(limit=None, timeout=None, wakeup=False)
sys.exit(0)
