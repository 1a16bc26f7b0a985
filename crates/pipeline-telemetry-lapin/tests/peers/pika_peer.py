"""A RabbitMQ peer written with pika: publishes a message carrying W3C
trace headers (beside the non-string values Celery puts in the same
table), or consumes one and prints its headers as JSON.

usage: pika_peer.py publish <amqp_url> <queue> <traceparent> <baggage>
       pika_peer.py consume <amqp_url> <queue>
"""
import json
import sys
import time

import pika


def channel(url, queue):
    conn = pika.BlockingConnection(pika.URLParameters(url))
    ch = conn.channel()
    ch.queue_declare(queue=queue)
    return conn, ch


def publish(url, queue, traceparent, baggage):
    conn, ch = channel(url, queue)
    headers = {
        "traceparent": traceparent,
        "baggage": baggage,
        "retries": 3,
        "argsrepr": ["1", 2],
        "timelimit": [None, None],
    }
    ch.basic_publish(
        exchange="",
        routing_key=queue,
        body=b"1,2,3",
        properties=pika.BasicProperties(headers=headers, message_id="py-1"),
    )
    conn.close()
    print("published")


def consume(url, queue):
    conn, ch = channel(url, queue)
    deadline = time.time() + 20
    while time.time() < deadline:
        method, props, body = ch.basic_get(queue=queue, auto_ack=False)
        if method is None:
            time.sleep(0.1)
            continue
        ch.basic_ack(method.delivery_tag)
        headers = {
            k: (v.decode("utf-8") if isinstance(v, bytes) else v)
            for k, v in (props.headers or {}).items()
        }
        print(json.dumps({"headers": headers, "body": body.decode("utf-8")}))
        conn.close()
        return
    conn.close()
    sys.exit("no message within 20 s")


if __name__ == "__main__":
    if sys.argv[1] == "publish":
        publish(*sys.argv[2:6])
    else:
        consume(*sys.argv[2:4])
