"""The loopback listener a user launch needs: the app's redirect URI (the browser comes back there
with `code` and `state`) and, for an EHR launch, the launch URL the EHR opens with `iss` and
`launch`. It binds 127.0.0.1 only, on the port of the registered URI.

A callback is accepted only with the `state` of a pending request; any other is answered 400 and
counted (a forged or stale redirect must not be taken for the user's). Pages we send back are fixed
text: nothing a request carried is echoed into them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ehrcheck.probes.authenticated.credentials import Secret
from ehrcheck.probes.launch.authorize import Callback, parse_callback
from ehrcheck.probes.launch.registration import is_loopback

MAX_REQUEST_LINE = 8192
PAGE = (
    "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>ehrcheck</title></head><body><p>{text}</p></body></html>"
)
ERROR_CODE = frozenset("abcdefghijklmnopqrstuvwxyz_")


def _where(url: str) -> tuple[str, str, int | None, str]:
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    port = parts.port or {"http": 80, "https": 443}.get(scheme)
    return scheme, (parts.hostname or ""), port, parts.path or "/"


def same_address(url: str, redirect_uri: str) -> bool:
    """Whether `url` is on `redirect_uri`: same scheme, host, port and path (the query differs).
    A backslash or user-info is never part of a redirect the browser ended on, and parsers
    disagree on them (`http://a:1\\@b:2/` is host a to a browser, b to urlsplit)."""
    head = url.strip().split("?", 1)[0].split("#", 1)[0]
    if "\\" in head or "@" in head:
        return False
    try:
        return _where(url) == _where(redirect_uri)
    except ValueError:  # a port out of range, a broken IPv6 literal
        return False


@dataclass
class Listener:
    redirect_uri: str
    launch_uri: str | None = None
    # For an EHR launch: (iss, launch) -> the authorize URL to send the browser to, or a refusal.
    on_launch: Callable[[str, str], Awaitable[tuple[str | None, str]]] | None = None
    mismatched_state: int = 0
    _pending: dict[str, asyncio.Future[Callback]] = field(default_factory=dict)
    _servers: list[asyncio.AbstractServer] = field(default_factory=list)
    _clients: set[asyncio.Task[None]] = field(default_factory=set)  # connections being served

    async def start(self) -> None:
        """Listen on the port of each loopback URI; OSError (port taken) goes to the caller."""
        ports = {urlsplit(u).port for u in (self.redirect_uri, self.launch_uri) if u and is_loopback(u)}
        for port in sorted(p for p in ports if p):
            self._servers.append(await asyncio.start_server(self._handle, "127.0.0.1", port))

    async def close(self) -> None:
        for server in self._servers:
            server.close()
        # connections still open (a client that never finished its request) end here, not at
        # the event loop's shutdown, where a cancelled handler was logged as a traceback
        clients = [t for t in self._clients if not t.done()]
        for task in clients:
            task.cancel()
        await asyncio.gather(*clients, return_exceptions=True)
        for server in self._servers:
            await server.wait_closed()
        for fut in self._pending.values():
            if not fut.done():
                fut.cancel()

    def expect(self, state: str) -> asyncio.Future[Callback]:
        fut: asyncio.Future[Callback] = asyncio.get_running_loop().create_future()
        self._pending[state] = fut
        return fut

    def deliver(self, url: str, pasted: bool = False) -> bool:
        """A redirect URL (from the listener, or pasted by the user): resolves its request if the
        state matches one we sent. Returns whether it was accepted. A pasted one must also be on
        the redirect URI itself: an address on another host or path is not where the
        authorization server sent the browser, whatever state it carries."""
        if pasted and not same_address(url, self.redirect_uri):
            self.mismatched_state += 1
            return False
        params = parse_callback(url)
        fut = self._pending.get(params.get("state", ""))
        if fut is None or fut.done():
            self.mismatched_state += 1
            return False
        error = params.get("error")
        code = params.get("code")
        if code and not all(0x20 <= ord(ch) <= 0x7E for ch in code):
            # RFC 6749 codes are printable ASCII: bytes a terminal could not decode (a lone
            # surrogate from stdin), NUL or escapes are a garbled paste, and the token request
            # could not even be encoded (an internal error that wasted the launch). Keep waiting.
            self.mismatched_state += 1
            return False
        if code:
            fut.set_result(Callback(code=Secret(code), iss=params.get("iss")))
        else:
            safe = error if error and len(error) <= 64 and set(error) <= ERROR_CODE else "no_code"
            fut.set_result(Callback(error=safe))
        return True

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One browser request. Anything a local client sends (a line past the stream's limit, a
        request cut short, a connection left open until ehrcheck stops) ends this connection
        quietly: a traceback on the terminal is never the answer to what another program sends."""
        task = asyncio.current_task()
        if task is not None:
            self._clients.add(task)
            task.add_done_callback(self._clients.discard)
        try:
            line = await asyncio.wait_for(reader.readline(), 10)
            while (await asyncio.wait_for(reader.readline(), 10)) not in (b"\r\n", b"\n", b""):
                pass  # headers are not needed
            parts = line.decode("latin-1").split(" ")
            if len(line) > MAX_REQUEST_LINE or len(parts) < 2 or parts[0] != "GET":
                await self._reply(writer, 400, "This address only answers the app's redirect.")
                return
            target = parts[1]
            path = urlsplit(target).path
            if self.launch_uri and path == urlsplit(self.launch_uri).path and self.on_launch is not None:
                params = parse_callback(target)
                to, message = await self.on_launch(params.get("iss", ""), params.get("launch", ""))
                if to:
                    await self._reply(writer, 302, "Continuing to the authorization server.", location=to)
                else:
                    await self._reply(writer, 400, message)
                return
            if path != urlsplit(self.redirect_uri).path:
                await self._reply(writer, 404, "Not the app's redirect URI.")
                return
            if self.deliver(target):
                await self._reply(writer, 200, "ehrcheck received the authorization. You can close this window.")
            else:
                await self._reply(writer, 400, "This redirect does not match the request ehrcheck sent (state). Ignored.")
        except (TimeoutError, ConnectionError, UnicodeDecodeError, ValueError, asyncio.IncompleteReadError):
            pass  # ValueError: a line longer than the stream's limit (asyncio's LimitOverrunError)
        except asyncio.CancelledError:
            pass  # closed with the listener: the connection simply ends
        finally:
            writer.close()

    @staticmethod
    async def _reply(writer: asyncio.StreamWriter, status: int, text: str, location: str | None = None) -> None:
        reason = {200: "OK", 302: "Found", 400: "Bad Request", 404: "Not Found"}[status]
        body = PAGE.format(text=text).encode()
        head = [f"HTTP/1.1 {status} {reason}", "Content-Type: text/html; charset=utf-8", f"Content-Length: {len(body)}"]
        head += ["Cache-Control: no-store", "Referrer-Policy: no-referrer", "Connection: close"]
        if location:
            head.append(f"Location: {location}")
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        await writer.drain()
