"""Submit N chaos.count tasks with Python Celery's send_task (the real client); print their ids, one per line.
argv: broker URL, N, sleep ms[, result backend URL (default: the broker)]."""
import sys

from celery import Celery

url, n, sleep_ms = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
backend = sys.argv[4] if len(sys.argv) > 4 else url
app = Celery(broker=url, backend=backend)
with app.producer_or_acquire() as producer:
    for _ in range(n):
        print(app.send_task("chaos.count", args=[sleep_ms], producer=producer).id)
