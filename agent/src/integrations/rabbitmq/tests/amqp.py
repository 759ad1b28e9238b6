#!/usr/bin/env python3
"""The rabbitmq tests' AMQP client (pika): each argument one step, done in order on one connection.

  declare:Q                 a queue
  declare_dlx:Q:DLQ         a queue dead-lettering to DLQ through the default exchange
  publish:Q:N:TS            N persistent messages with timestamp TS (Unix seconds)
  ack:Q:K                   basic.get K messages and ack each
  reject:Q:R                basic.get R messages and reject each without requeue
  delete:Q                  delete a queue
  run:Q:RATE:STOP:TOTAL     for TOTAL seconds publish RATE messages a second (timestamped) on
                            a second connection while a consumer acks them, cancelled after
                            STOP seconds; prints the counts
  requeue:Q:K               basic.get K messages and nack each with requeue (back at the head)
  hold:Q:K                  basic.get K messages and leave them unacknowledged
  exchange:X:Q:K            a direct exchange X with queue Q bound by key K
  xpublish:X:K:N            N messages into exchange X with routing key K
  xdelete:X                 delete exchange X
  many:P:N                  N queues P.0 .. P.N-1 with one message each
  delete_many:P:N           delete them
  stay                      keep the connection open until stdin closes: the management API
                            counts a channel's acks from its periodic stats, lost when the
                            channel closes first
Prints one line per step with what was done, so the test's truth is what really happened."""
import sys
import time
import pika

conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", 5672))
ch = conn.channel()
ch.confirm_delivery()
for step in sys.argv[1:]:
    op, *a = step.split(":")
    if op == "declare":
        ch.queue_declare(a[0])
    elif op == "declare_dlx":
        ch.queue_declare(a[0], arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": a[1]})
    elif op == "publish":
        for i in range(int(a[1])):
            ch.basic_publish("", a[0], b"m%d" % i, pika.BasicProperties(timestamp=int(a[2]), delivery_mode=2), mandatory=True)
    elif op in ("ack", "reject", "hold", "requeue"):
        done = 0
        for _ in range(int(a[1])):
            method, _, _ = ch.basic_get(a[0])
            if method is None:
                break
            if op == "ack":
                ch.basic_ack(method.delivery_tag)
            elif op == "requeue":
                ch.basic_nack(method.delivery_tag, requeue=True)
            elif op == "reject":
                ch.basic_reject(method.delivery_tag, requeue=False)
            done += 1
        if done != int(a[1]):
            sys.exit(f"{step}: only {done} messages")
    elif op == "run":
        q, rate, stop, total = a[0], int(a[1]), float(a[2]), float(a[3])
        pub = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", 5672)).channel()
        acked = [0]

        def on_message(c, m, _p, _b):
            c.basic_ack(m.delivery_tag)
            acked[0] += 1

        tag = ch.basic_consume(q, on_message)
        t0 = time.time()
        sent = 0
        while time.time() - t0 < total:
            elapsed = time.time() - t0
            while sent < rate * elapsed:
                pub.basic_publish("", q, b"m", pika.BasicProperties(timestamp=int(time.time())))
                sent += 1
            if tag is not None and elapsed >= stop:
                ch.basic_cancel(tag)
                tag = None
            conn.process_data_events(time_limit=0.05)
        pub.connection.close()
        print(f"{step} sent={sent} acked={acked[0]}", flush=True)
        continue
    elif op == "exchange":
        ch.exchange_declare(a[0], "direct")
        ch.queue_declare(a[1])
        ch.queue_bind(a[1], a[0], a[2])
    elif op == "xpublish":
        for i in range(int(a[2])):
            ch.basic_publish(a[0], a[1], b"x")
    elif op == "xdelete":
        ch.exchange_delete(a[0])
    elif op == "many":
        for i in range(int(a[1])):
            ch.queue_declare(f"{a[0]}.{i}")
            ch.basic_publish("", f"{a[0]}.{i}", b"m", pika.BasicProperties(timestamp=int(time.time())))
    elif op == "delete_many":
        for i in range(int(a[1])):
            ch.queue_delete(f"{a[0]}.{i}")
    elif op == "stay":
        print(step, flush=True)
        sys.stdin.read()
        continue
    elif op == "delete":
        ch.queue_delete(a[0])
    else:
        sys.exit(f"unknown step {step}")
    print(step, flush=True)
conn.close()
