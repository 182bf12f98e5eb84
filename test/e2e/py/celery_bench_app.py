"""Python side of bench/celery.ts: the same task names as our built-ins, and a preloader."""
import os
import sys
import time

from celery import Celery

URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
# On RabbitMQ the results go elsewhere (BENCH_BACKEND: a Redis URL, or rpc://).
app = Celery("bench", broker=URL, backend=os.environ.get("BENCH_BACKEND", URL))
app.conf.task_acks_late = True
app.conf.worker_prefetch_multiplier = 4


@app.task(name="health_check")
def health_check():
    return {"status": "healthy"}


@app.task(name="simulate_work")
def simulate_work(duration=1):
    time.sleep(duration)
    return {"requested_duration": duration}


if __name__ == "__main__":
    n, task = int(sys.argv[1]), sys.argv[2]
    args = [float(a) for a in sys.argv[3:]]
    with app.producer_or_acquire() as producer:
        for _ in range(n):
            app.send_task(task, args=args, producer=producer)
