"""Ingest load for the durability tests: HTTP and WebSocket posters whose
event ids are recorded only once the daemon acknowledged them."""
import threading

import msgpack
import websocket

from conftest import service_event


class Load:
    """HTTP and WebSocket posters; ids are recorded only once acknowledged."""

    def __init__(self, d, tag, batch=10):
        self.d, self.tag, self.acked, self.lock = d, tag, [], threading.Lock()
        self.batch = batch  # 256 and more make a group whose ids go to the store at once
        self.enough = threading.Event()
        self.target = 0
        self.threads = [threading.Thread(target=self.http, args=(i,), daemon=True)
                        for i in range(2)]
        self.threads.append(threading.Thread(target=self.ws, daemon=True))

    def events(self, who, n):
        return [service_event(eid=f"{self.tag}-{who}-{n}-{i}") for i in range(self.batch)]

    def ack(self, evs):
        with self.lock:
            self.acked += [e["id"] for e in evs]
            if len(self.acked) >= self.target:
                self.enough.set()

    def http(self, k):
        try:
            c = self.d.conn()
            for n in range(10**9):
                evs = self.events(f"h{k}", n)
                status, body, _ = self.d.post_json(evs, conn=c)
                if status == 200 and body["accepted"] == len(evs):
                    self.ack(evs)
        except Exception:
            return  # the daemon was killed

    def ws(self):
        try:
            ws = websocket.create_connection(f"ws://127.0.0.1:{self.d.port}/",
                                             subprotocols=["kinerja-ingest.v1"],
                                             header=[f"Authorization: Bearer {self.d.token}"],
                                             timeout=30)
            for n in range(1, 10**9):
                evs = self.events("w", n)
                ws.send_binary(msgpack.packb({"op": "events", "seq": n, "events": evs}))
                ack = msgpack.unpackb(ws.recv())
                if ack.get("op") == "ack" and ack["accepted"] == len(evs):
                    self.ack(evs)
        except Exception:
            return

    def run_until_killed(self, target):
        self.target = target
        for t in self.threads:
            t.start()
        assert self.enough.wait(120), f"only {len(self.acked)} acks"
        self.d.kill9()
        for t in self.threads:
            t.join(30)
        return set(self.acked)
