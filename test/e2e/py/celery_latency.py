"""Submit → result latency at low load, as a Python Celery client sees it: N tasks one after the other (each sent
once the previous result arrived), after a warm-up. argv: broker URL, result backend URL, N, task name.
Prints one JSON line {p50_ms, p99_ms, n}."""
import json
import sys
import time

from celery import Celery

broker, backend, n, task = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
app = Celery(broker=broker, backend=backend)
for _ in range(20):
    app.send_task(task).get(timeout=30)
samples = []
for _ in range(n):
    t0 = time.perf_counter()
    app.send_task(task).get(timeout=30)
    samples.append((time.perf_counter() - t0) * 1000)
samples.sort()
print(json.dumps({"p50_ms": samples[len(samples) // 2], "p99_ms": samples[min(len(samples) - 1, int(len(samples) * 0.99))],
                  "n": n}), flush=True)
