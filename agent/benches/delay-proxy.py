#!/usr/bin/env python3
"""TCP proxy on 127.0.0.1 adding a fixed delay in each direction, to
benchmark pulls over a link with round-trip time (no netem needed):

    delay-proxy.py LISTEN_PORT TARGET_PORT ONE_WAY_DELAY_MS
"""
import asyncio
import sys
import time


async def pipe(reader, writer, delay):
    # Deliver every chunk `delay` seconds after it arrived, in order.
    queue = asyncio.Queue()

    async def deliver():
        while True:
            due, data = await queue.get()
            if data is None:
                break
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()
        writer.close()

    task = asyncio.create_task(deliver())
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            await queue.put((time.monotonic() + delay, data))
    finally:
        await queue.put((0, None))
        await task


async def main():
    listen, target, delay_ms = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    delay = delay_ms / 1000.0

    async def handle(cr, cw):
        try:
            ur, uw = await asyncio.open_connection("127.0.0.1", target)
        except OSError:
            cw.close()
            return
        await asyncio.gather(pipe(cr, uw, delay), pipe(ur, cw, delay), return_exceptions=True)

    server = await asyncio.start_server(handle, "127.0.0.1", listen)
    async with server:
        await server.serve_forever()


asyncio.run(main())
