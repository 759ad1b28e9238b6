#!/usr/bin/env python3
"""Writes a pcap file of HTTP/1.1 traffic (Ethernet, IPv4, TCP with real sequence and
acknowledgement numbers) and prints its ground truth as JSON: the requests written, by
method and by final status, and the packets.

Connections open (SYN, SYN-ACK, ACK), carry keep-alive requests one at a time (GET, POST
with a body, PUT, DELETE, HEAD), answered with Content-Length, chunked (in several segments)
or, on the last request of some connections, a body delimited by the connection's close;
bodies over the MSS span several segments, each acknowledged. With --pipelined, some
connections write several requests in one segment, the server answering in order: tshark
4.0 miscounts those, so there the ground truth printed here is the reference. With
--continue, some POSTs send `Expect: 100-continue` and get `100 Continue` first (tshark
counts that as a response). Deterministic for a given --seed.

    bench/http-pcap-gen.py OUT.pcap [--packets 110000] [--port 8080] [--pipelined] [--continue]
"""

import argparse
import json
import random
import struct
import sys

MSS = 1448
CLIENT_MAC, SERVER_MAC = b"\x02\x00\x00\x00\x00\x01", b"\x02\x00\x00\x00\x00\x02"
ROUTES = ["/orders/{}", "/orders/{}/items", "/customers/{}", "/health", "/cost/{}", "/static/app.js"]
STATUSES = [200] * 20 + [201, 204, 301, 304, 400, 404, 404, 500, 503]


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


class Pcap:
    def __init__(self, path):
        self.f = open(path, "wb")
        # Nanosecond pcap (magic a1b23c4d), Ethernet.
        self.f.write(struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 262144, 1))
        self.packets = []

    def add(self, ts, frame):
        self.packets.append((ts, len(self.packets), frame))

    def close(self):
        self.packets.sort()
        for ts, _, frame in self.packets:
            self.f.write(struct.pack("<IIII", ts // 10**9, ts % 10**9, len(frame), len(frame)))
            self.f.write(frame)
        self.f.close()


class Conn:
    """One TCP connection: both ends' next sequence numbers."""

    def __init__(self, pcap, client, cport, server, sport):
        self.p, self.ends = pcap, {True: (client, cport), False: (server, sport)}
        self.seq = {True: random.getrandbits(32), False: random.getrandbits(32)}

    def seg(self, ts, up, flags, payload=b""):
        (src, sp), (dst, dp) = self.ends[up], self.ends[not up]
        ack = self.seq[not up] if flags & 0x10 else 0
        tcp = struct.pack("!HHIIBBHHH", sp, dp, self.seq[up] & 0xFFFFFFFF, ack & 0xFFFFFFFF, 5 << 4, flags, 65535, 0, 0)
        total = 20 + len(tcp) + len(payload)
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 0, 0x4000, 64, 6, 0, src, dst)
        ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
        pseudo = struct.pack("!4s4sBBH", src, dst, 0, 6, len(tcp) + len(payload))
        tcp = tcp[:16] + struct.pack("!H", checksum(pseudo + tcp + payload)) + tcp[18:]
        macs = (SERVER_MAC + CLIENT_MAC) if up else (CLIENT_MAC + SERVER_MAC)
        self.p.add(ts, macs + b"\x08\x00" + ip + tcp + payload)
        self.seq[up] += len(payload) + (1 if flags & 0x03 else 0)

    def send(self, ts, up, data, step=20_000):
        """Data in MSS segments, each acknowledged by the peer; returns the time after."""
        for i in range(0, len(data), MSS):
            self.seg(ts, up, 0x18, data[i:i + MSS])
            self.seg(ts + 30_000, not up, 0x10)
            ts += step
        return ts


def request(method, target, body, expect):
    head = f"{method} {target} HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: gen/1\r\n"
    if body:
        head += f"Content-Length: {len(body)}\r\nContent-Type: application/json\r\n"
    if expect:
        head += "Expect: 100-continue\r\n"
    return (head + "\r\n").encode(), body


def response(method, status, size, framing):
    body = (b"x" * size) if status not in (204, 304) else b""
    head = f"HTTP/1.1 {status} S\r\nServer: gen\r\nContent-Type: text/plain\r\n"
    if framing == "chunked" and body:
        head += "Transfer-Encoding: chunked\r\n\r\n"
        parts = [body[i:i + 700] for i in range(0, len(body), 700)]
        data = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in parts) + b"0\r\n\r\n"
    elif framing == "close":
        head += "Connection: close\r\n\r\n"
        data = body
    else:
        head += f"Content-Length: {len(body)}\r\n\r\n"
        data = body
    return head.encode() + (b"" if method == "HEAD" else data)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--packets", type=int, default=110_000)
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--pipelined", action="store_true")
    ap.add_argument("--continue", dest="cont", action="store_true")
    a = ap.parse_args()
    random.seed(a.seed)
    p = Pcap(a.out)
    server = bytes([10, 0, 0, 1])
    truth = {"requests": 0, "methods": {}, "statuses": {}}

    def count(method, status):
        truth["requests"] += 1
        truth["methods"][method] = truth["methods"].get(method, 0) + 1
        truth["statuses"][str(status)] = truth["statuses"].get(str(status), 0) + 1

    t, n = 1_760_000_000 * 10**9, 0
    while len(p.packets) < a.packets:
        n += 1
        client = bytes([10, 1, (n >> 8) & 255, n & 255])
        c = Conn(p, client, 20000 + n % 40000, server, a.port)
        t += random.randint(50_000, 400_000)
        ts = t
        c.seg(ts, True, 0x02)
        c.seg(ts + 20_000, False, 0x12)
        c.seg(ts + 40_000, True, 0x10)
        ts += 60_000
        k = random.randint(1, 12)
        close_last = random.random() < 0.2
        pipelined = a.pipelined and random.random() < 0.3
        batch = []
        for i in range(k):
            method = random.choice(["GET"] * 6 + ["POST", "PUT", "DELETE", "HEAD"])
            target = random.choice(ROUTES).format(random.randint(1, 5000))
            body = b'{"qty": %d}' % i if method in ("POST", "PUT") else b""
            expect = a.cont and method == "POST" and not pipelined and random.random() < 0.5
            status = random.choice(STATUSES)
            framing = "close" if close_last and i == k - 1 else random.choice(["length"] * 3 + ["chunked"])
            size = random.choice([0, 120, 900, 2500, 6000]) if status not in (204, 304) else 0
            count(method, status)
            head, body = request(method, target, body, expect)
            resp = response(method, status, size, framing)
            if pipelined:
                batch.append((head + body, resp, framing))
                if framing == "close":
                    break
                continue
            ts = c.send(ts, True, head)
            if expect:
                ts = c.send(ts + 100_000, False, b"HTTP/1.1 100 Continue\r\n\r\n")
            if body:
                ts = c.send(ts, True, body)
            ts = c.send(ts + random.randint(200_000, 30_000_000), False, resp)
            if framing == "close":
                break
            ts += random.randint(100_000, 2_000_000)
        if batch:
            ts = c.send(ts, True, b"".join(r for r, _, _ in batch))
            for _, resp, _ in batch:
                ts = c.send(ts + random.randint(200_000, 5_000_000), False, resp)
            framing = batch[-1][2]
        if framing == "close":
            c.seg(ts + 10_000, False, 0x11)
            c.seg(ts + 30_000, True, 0x11)
        else:
            c.seg(ts + 50_000, True, 0x11)
            c.seg(ts + 70_000, False, 0x11)
        c.seg(ts + 90_000, framing != "close", 0x10)
    truth["packets"] = len(p.packets)
    truth["connections"] = n
    p.close()
    json.dump(truth, sys.stdout, sort_keys=True)
    print()


if __name__ == "__main__":
    main()
