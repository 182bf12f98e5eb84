"""The check-line format every e2e Python script prints: one JSON line {check, ok, value|error, seconds} per check."""
import json
import time


def reporter(only):
    """A report(name, fn) that runs fn (unless `only` names other checks) and prints its line."""

    def report(name, fn):
        if only and name not in only:
            return
        t0 = time.time()
        try:
            value = fn()
            out = {"check": name, "ok": True, "value": value}
        except Exception as e:  # noqa: BLE001 - the point is to report the type
            out = {"check": name, "ok": False, "error": type(e).__name__, "module": type(e).__module__, "message": str(e)}
        out["seconds"] = round(time.time() - t0, 3)
        print(json.dumps(out, default=str), flush=True)

    return report
