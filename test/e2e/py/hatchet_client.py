"""Python hatchet-sdk client for the Hatchet e2e tests: runs registry tasks and workflows BY NAME with input
{"args": [...], "kwargs": {...}} and prints one JSON object {case: {ok, value} | {ok: false, type, message}}.
Connection settings come from HATCHET_CLIENT_* (token, host/port, TLS strategy, namespace).

Usage: hatchet_client.py [case ...]          the CASES below (all, or the named ones)
       hatchet_client.py run <name> <args>   one task (args: a JSON list); adds done_at
       hatchet_client.py cancel <dir> <n>    n runs of wait_abort, each cancelled once it runs; prints the epoch
                                             second of each cancel"""

import json
import os
import sys
import time

from hatchet_sdk import Hatchet
from hatchet_sdk.exceptions import FailedTaskRunExceptionGroup, TaskRunError

RESULT_NODE = "__result__"


def unwrap(outputs):
    """The run's result from its per-task outputs ({"result": v} per task; workflows add a __result__ node)."""
    if isinstance(outputs, dict):
        if RESULT_NODE in outputs:
            return outputs[RESULT_NODE]["result"]
        if len(outputs) == 1:
            (only,) = outputs.values()
            if isinstance(only, dict) and "result" in only:
                return only["result"]
    return outputs


def call(hatchet, name, args=None, kwargs=None):
    details = hatchet.runs.create(name, {"args": args or [], "kwargs": kwargs or {}})
    ref = hatchet.runs.get_run_ref(details.run.metadata.id)
    try:
        return {"ok": True, "value": unwrap(ref.result())}
    except FailedTaskRunExceptionGroup as group:
        first = group.exceptions[0]
        return {"ok": False, "type": first.exc_type, "message": first.exc}
    except TaskRunError as err:
        return {"ok": False, "type": err.exc_type, "message": err.exc}


CASES = {
    "add_positional": ("add_numbers", [2, 3], None),
    "add_kwargs": ("add_numbers", None, {"a": 2, "b": 3}),
    "add_mixed": ("add_numbers", [2], {"b": 3.5}),
    "echo": ("echo", ["hi"], None),
    "process_data": ("process_data", [{"a": 1, "b": 2}, "count"], None),
    "typed_error": ("conformance_fail_typed", ["x"], None),
    "type_error": ("add_numbers", [1, "x"], None),
    "flaky": ("conformance_flaky", None, None),
    "retries_exhausted": ("conformance_always_fails", None, None),
    "sequential": ("conformance_sequential", [2], None),
    "parallel": ("conformance_parallel", [4], None),
    "dag": ("conformance_dag", [2, 3], None),
    "time_limit": ("conformance_timeout", None, None),
}


def cancel_runs(hatchet, directory, count):
    samples = []
    for i in range(count):
        key = f"cancel{i}"
        details = hatchet.runs.create("wait_abort", {"args": [directory, key], "kwargs": {}})
        run_id = details.run.metadata.id
        marker = os.path.join(directory, key)
        deadline = time.time() + 60
        while not os.path.exists(marker):
            if time.time() > deadline:
                raise TimeoutError(f"wait_abort {key} never started")
            time.sleep(0.02)
        time.sleep(0.3 + 0.35 * i)
        cancel_at = time.time()
        hatchet.runs.cancel(run_id)
        samples.append({"key": key, "cancel_at": cancel_at})
    return {"samples": samples}


def main():
    only = sys.argv[1:]
    hatchet = Hatchet()
    if only[:1] == ["run"]:
        outcome = call(hatchet, only[1], json.loads(only[2]), None)
        print(json.dumps({**outcome, "done_at": time.time()}))
        return
    if only[:1] == ["cancel"]:
        print(json.dumps(cancel_runs(hatchet, only[1], int(only[2]))))
        return
    out = {}
    for key, (name, args, kwargs) in CASES.items():
        if only and key not in only:
            continue
        out[key] = call(hatchet, name, args, kwargs)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
    # The report is printed: leave without interpreter finalisation, which the SDK's grpc threads can race and
    # abort (seen with temporalio in CI: SIGABRT after a complete run).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
