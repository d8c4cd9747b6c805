"""A TLS-terminating loopback proxy: accepts HTTPS on 127.0.0.1 and pipes the bytes, decrypted,
to a plain-HTTP upstream on 127.0.0.1. fhir-scorecard refuses http:// URLs, so this is how it
reaches tests/support/many_endpoints.py. Prints its origin (https://127.0.0.1:PORT) on stdout,
then serves until SIGTERM.

    python -m benchmarks.tls_proxy --upstream http://127.0.0.1:8000 --cert cert.pem --key key.pem
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import ssl
from urllib.parse import urlsplit


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


async def serve(upstream_host: str, upstream_port: int, context: ssl.SSLContext) -> None:
    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            up_r, up_w = await asyncio.open_connection(upstream_host, upstream_port)
        except OSError:
            client_w.close()
            return
        await asyncio.gather(_pipe(client_r, up_w), _pipe(up_r, client_w))

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context, backlog=1024)
    print(f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stopped.set)
    loop.add_signal_handler(signal.SIGINT, stopped.set)
    async with server:
        await stopped.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True, help="plain-HTTP origin on 127.0.0.1")
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    args = parser.parse_args()
    up = urlsplit(args.upstream)
    if up.hostname != "127.0.0.1" or up.port is None:
        parser.error("--upstream must be http://127.0.0.1:PORT")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(args.cert, args.key)
    asyncio.run(serve(up.hostname, up.port, context))


if __name__ == "__main__":
    main()
