"""The app the ecosystem-fidelity e2e test runs with `celery -A fidelity_app` (CLI, Flower, a Python worker).

The Python worker defines add_numbers like our built-in, so both workers run the same task for the event diff.
"""
import os

from celery import Celery

app = Celery("fidelity", broker=os.environ["BROKER"], backend=os.environ["BACKEND"])


@app.task(name="add_numbers")
def add_numbers(a, b):
    return a + b
