#!/usr/bin/env python3
"""Delay proxy for bench/run --rtt: a TCP relay that holds every chunk for
a fixed one-way delay in each direction, so loopback behaves like a link
with a round-trip time of 2 x DELAY.

usage: delayproxy.py --delay-ms D TARGET_PORT [TARGET_PORT ...]

For every target port (on 127.0.0.1) it listens on a free loopback port
and prints one line of JSON on stdout, {"TARGET": LISTEN, ...}, once all
listeners are up; then it relays until SIGTERM.

Per connection and direction, one reader task stamps each chunk with its
arrival time + D and queues it; one writer task takes the chunks in order
and sleeps only until the head's deadline, so chunks in flight overlap
(a stream of chunks costs D once, not D per chunk) and order is kept.
The upstream connect starts D after the accept (the SYN's trip), so the
server's greeting reaches the client one RTT after its connect; the TCP
handshake's own extra round trip is not modelled. EOF is relayed as a
half-close after the data queued before it.
"""

import asyncio
import json
import signal
import sys

BUF = 256 * 1024


async def pump(reader, get_writer, delay, loop):
    """Copy reader -> writer, each chunk delayed by `delay` seconds."""
    q = asyncio.Queue()

    async def read_side():
        try:
            while True:
                data = await reader.read(BUF)
                q.put_nowait((loop.time() + delay, data))
                if not data:
                    return
        except (ConnectionError, OSError):
            q.put_nowait((loop.time() + delay, b""))

    async def write_side():
        writer = await get_writer()
        try:
            while True:
                due, data = await q.get()
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not data:
                    if writer.can_write_eof():
                        writer.write_eof()
                    return
                writer.write(data)
                # drain only when the transport's buffer is high
                if writer.transport.get_write_buffer_size() > BUF:
                    await writer.drain()
        except (ConnectionError, OSError):
            pass

    await asyncio.gather(read_side(), write_side())


async def handle(creader, cwriter, target, delay):
    loop = asyncio.get_running_loop()
    up = loop.create_future()

    async def connect():
        await asyncio.sleep(delay)
        try:
            r, w = await asyncio.open_connection("127.0.0.1", target)
            up.set_result((r, w))
        except OSError as e:
            up.set_exception(e)

    asyncio.ensure_future(connect())

    async def up_writer():
        return (await up)[1]

    async def client_writer():
        return cwriter

    try:
        sreader_fut = asyncio.ensure_future(up)
        c2s = asyncio.ensure_future(pump(creader, up_writer, delay, loop))
        sreader, swriter = await sreader_fut
        s2c = asyncio.ensure_future(pump(sreader, client_writer, delay,
                                         loop))
        await asyncio.gather(c2s, s2c, return_exceptions=True)
    except (OSError, asyncio.CancelledError):
        pass   # upstream refused, or the proxy is stopping
    finally:
        for w in (cwriter,) + ((up.result()[1],) if up.done() and
                               not up.exception() else ()):
            try:
                w.close()
            except Exception:
                pass


async def main():
    args = sys.argv[1:]
    if len(args) < 3 or args[0] != "--delay-ms":
        print(__doc__, file=sys.stderr)
        return 2
    delay = float(args[1]) / 1000.0
    mapping = {}
    servers = []
    for t in args[2:]:
        t = int(t)
        srv = await asyncio.start_server(
            lambda r, w, t=t: handle(r, w, t, delay), "127.0.0.1", 0,
            backlog=1024)
        mapping[str(t)] = srv.sockets[0].getsockname()[1]
        servers.append(srv)
    print(json.dumps(mapping), flush=True)
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(
            sig, lambda: stop.done() or stop.set_result(None))
    await stop
    for s in servers:
        s.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
