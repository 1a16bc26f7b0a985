"""Sends DogStatsD packets with Datadog's official Python client.

Usage: dogstatsd_oracle.py <port> <ops.json>

Each op is {"op": <client method>, "args": [...], "kwargs": {...}} plus an
optional "client" dict of DogStatsd constructor options. Everything goes to
127.0.0.1:<port>; the Rust test reads the bytes and compares them with its
own encoding field by field.
"""
import json
import sys

from datadog.dogstatsd.base import DogStatsd


def main():
    port = int(sys.argv[1])
    with open(sys.argv[2], encoding="utf-8") as f:
        ops = json.load(f)
    for op in ops:
        options = dict(
            host="127.0.0.1",
            port=port,
            disable_telemetry=True,
            origin_detection_enabled=False,
        )
        options.update(op.get("client", {}))
        client = DogStatsd(**options)
        getattr(client, op["op"])(*op.get("args", []), **op.get("kwargs", {}))
        client.close_socket()


if __name__ == "__main__":
    main()
