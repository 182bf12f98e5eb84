"""Python Celery over amqps:// with a private CA and a client certificate (kombu's broker_use_ssl), rpc:// results.
argv: broker URL, CA, client certificate, client key. Prints one JSON line {value, error}."""
import json
import ssl
import sys

from celery import Celery

url, ca, cert, key = sys.argv[1:5]
app = Celery(broker=url, backend="rpc://")
app.conf.broker_use_ssl = {"ca_certs": ca, "certfile": cert, "keyfile": key, "cert_reqs": ssl.CERT_REQUIRED}
value = app.send_task("add_numbers", args=[2, 3]).get(timeout=20)
try:
    app.send_task("tbw_test.raise", args=["KeyError", "over tls"]).get(timeout=20)
    error = None
except Exception as e:  # noqa: BLE001 - the point is to report the type
    error = [type(e).__name__, str(e)]
print(json.dumps({"value": value, "error": error}), flush=True)
