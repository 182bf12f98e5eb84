"""Python side of bench/celery.ts: the same task names as our built-ins, and a preloader."""
import os
import sys
import time

from celery import Celery

URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
# On RabbitMQ (rpc:// or a Redis URL) and in bench/celery-database.ts (db+postgresql+psycopg://...) the results
# go elsewhere.
app = Celery("bench", broker=URL, backend=os.environ.get("BENCH_RESULT_URL", URL))
app.conf.task_acks_late = True
# Celery's default (4) unless the bench asks for the platform's setting (1) to compare at the same multiplier as ours.
app.conf.worker_prefetch_multiplier = int(os.environ.get("BENCH_PREFETCH_MULTIPLIER", "4"))


@app.task(name="health_check")
def health_check():
    return {"status": "healthy"}


@app.task(name="simulate_work")
def simulate_work(duration=1):
    time.sleep(duration)
    return {"requested_duration": duration}


def latency(n, interval):
    """AsyncResult.get() of a no-op, one at a time (low load): seconds per call, sorted."""
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        app.send_task("health_check").get(timeout=30, interval=interval)
        out.append(time.perf_counter() - t0)
    return sorted(out)


def paced(n, gap, warm=5):
    """send_task(...).get() of a no-op, one at a time, `gap` seconds apart (0 = back to back): ms per call, sorted.
    The first `warm` calls (connections, the result subscription) are not counted."""
    out = []
    for i in range(warm + n):
        t0 = time.perf_counter()
        app.send_task("health_check").get(timeout=30)
        if i >= warm:
            out.append((time.perf_counter() - t0) * 1000)
        if gap > 0:
            time.sleep(gap)
    return sorted(out)


if __name__ == "__main__" and sys.argv[1] == "paced":
    import json

    print(json.dumps(paced(int(sys.argv[2]), float(sys.argv[3]))))
elif __name__ == "__main__" and sys.argv[1] == "latency":
    import json

    xs = latency(int(sys.argv[2]), float(sys.argv[3]))
    print(json.dumps({"p50_ms": xs[len(xs) // 2] * 1000, "p99_ms": xs[min(len(xs) - 1, int(len(xs) * 0.99))] * 1000}))
elif __name__ == "__main__":
    n, task = int(sys.argv[1]), sys.argv[2]
    args = [float(a) for a in sys.argv[3:]]
    with app.producer_or_acquire() as producer:
        for _ in range(n):
            app.send_task(task, args=args, producer=producer)
