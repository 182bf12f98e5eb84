"""Runs tasks on a task-backend-worker Temporal pool the way a Python platform does (temporalio client):
execute_workflow(<task name>, args=[args, kwargs]). Prints one JSON object of outcomes for the TS test to assert.

Usage: temporal_client.py <address> <task queue>                     the CASES below, concurrently
       temporal_client.py <address> <task queue> run <name> <args>   one task (args: a JSON list); adds done_at
       temporal_client.py <address> <task queue> cancel <dir> <n>     n runs of wait_abort, each cancelled once it
                                                                      runs; prints the epoch second of each cancel
"""
import asyncio
import json
import os
import sys
import time
import uuid

from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError


async def run(client: Client, queue: str, name: str, args: list, kwargs: dict):
    try:
        value = await client.execute_workflow(
            name, args=[args, kwargs], id=f"py-{name}-{uuid.uuid4()}", task_queue=queue
        )
        return {"ok": True, "value": value}
    except WorkflowFailureError as err:
        cause = err.cause
        # The worker fails the workflow with the task's own ApplicationError (not wrapped in an ActivityError).
        if isinstance(cause, ApplicationError):
            return {"ok": False, "error_class": "ApplicationError", "type": cause.type, "message": cause.message,
                    "non_retryable": cause.non_retryable}
        return {"ok": False, "error_class": type(cause).__name__, "message": str(cause)}


CASES = {
    "add_positional": ("add_numbers", [2, 3], {}),
    "add_kwargs": ("add_numbers", [], {"a": 2, "b": 3}),
    "add_mixed": ("add_numbers", [2], {"b": 3.5}),
    "echo": ("echo", ["hi"], {}),
    "process_data": ("process_data", [{"a": 1, "b": 2}], {"operation": "count"}),
    "typed_error": ("conformance_fail_typed", ["x"], {}),
    "type_error": ("add_numbers", [1], {}),
    "flaky": ("conformance_flaky", [], {}),
    "retries_exhausted": ("conformance_always_fails", [], {}),
    "sequential": ("conformance_sequential", [2], {}),
    "parallel": ("conformance_parallel", [4], {}),
    "dag": ("conformance_dag", [2, 3], {}),
    "time_limit": ("conformance_timeout", [], {}),
}


async def run_one(client: Client, queue: str, name: str, args: list) -> dict:
    outcome = await run(client, queue, name, args, {})
    return {**outcome, "done_at": time.time()}


async def cancel_runs(client: Client, queue: str, directory: str, count: int) -> dict:
    samples = []
    for i in range(count):
        key = f"cancel{i}"
        handle = await client.start_workflow(
            "wait_abort", args=[[directory, key], {}], id=f"py-cancel-{uuid.uuid4()}", task_queue=queue
        )
        marker = os.path.join(directory, key)
        deadline = time.time() + 30
        while not os.path.exists(marker):
            if time.time() > deadline:
                raise TimeoutError(f"wait_abort {key} never started")
            await asyncio.sleep(0.02)
        # Cancel at different points of the heartbeat cycle (the first beat comes 1 s after the start).
        await asyncio.sleep(0.3 + 0.35 * i)
        cancel_at = time.time()
        await handle.cancel()
        try:
            await handle.result()
            outcome = "completed"
        except WorkflowFailureError as err:
            outcome = type(err.cause).__name__
        samples.append({"key": key, "cancel_at": cancel_at, "outcome": outcome})
    return {"samples": samples}


async def main() -> None:
    address, queue, mode = sys.argv[1], sys.argv[2], sys.argv[3:]
    client = await Client.connect(address)
    if mode and mode[0] == "run":
        print(json.dumps(await run_one(client, queue, mode[1], json.loads(mode[2]))))
        return
    if mode and mode[0] == "cancel":
        print(json.dumps(await cancel_runs(client, queue, mode[1], int(mode[2]))))
        return
    names = list(CASES)
    outcomes = await asyncio.gather(*(run(client, queue, *CASES[n]) for n in names))
    print(json.dumps(dict(zip(names, outcomes))))



def exit_now() -> None:
    # The report is printed: leave without interpreter finalisation. temporalio's native (Rust) and grpc threads can
    # race it and abort a finished run (seen in CI: "PyGILState_Release ... finalizing", SIGABRT after the output).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


asyncio.run(main())
exit_now()
