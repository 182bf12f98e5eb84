"""Python Celery app on the database result backend (PostgreSQL through SQLAlchemy + psycopg), for the database
e2e tests: a client (imported by db_checks.py) and a prefork worker (`celery -A db_app worker -Q py`) whose tasks
are named py.* and routed to the "py" queue, so a test decides which worker runs what."""
import os

from celery import Celery

app = Celery("dbpy", broker=os.environ["TBW_BROKER_URL"], backend=os.environ["TBW_DB_BACKEND_URL"])
app.conf.result_extended = True
app.conf.task_routes = {"py.*": {"queue": "py"}}
app.conf.broker_connection_retry_on_startup = True


@app.task(name="py.add")
def add(a, b):
    return a + b


@app.task(name="py.sum")
def total(xs):
    return sum(xs)


@app.task(name="py.raise")
def fail(message):
    raise ValueError(message)
