"""Refuse real model requests and non-loopback network traffic (used under pytest).

Two layers: litellm's ``completion``/``acompletion`` (and embeddings) are wrapped so a call
to anything but a registered custom provider (e.g. ``scripted/...``), litellm's own
``mock_response`` or a loopback ``api_base`` raises at once; and socket connects, UDP sends
and name lookups to non-loopback hosts raise, which catches clients that bypass litellm.
Every refusal is also recorded, so a test that swallows the error still fails.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from ace.errors import NonRetryableError

_GUARDED = ("completion", "acompletion", "embedding", "aembedding")
_LOCAL_NAMES = {"", "localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}


@functools.cache
def _own_hostname() -> str:
    return socket.gethostname().lower()


class ModelRequestBlocked(NonRetryableError):
    """A test tried to call a real model provider."""


class NetworkBlockedError(RuntimeError):
    """A test tried to reach a non-loopback network address."""


def is_local_host(host: object) -> bool:
    """Whether ``host`` (name or IP literal) is loopback, unspecified or a local name."""
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    name = host.strip("[]").split("%", 1)[0].lower()
    # The machine's own name resolves through /etc/hosts; some libraries look it up.
    if name in _LOCAL_NAMES or name.endswith(".localhost") or name == _own_hostname():
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


class Tripwire:
    """Installs and removes both guards; ``violations`` lists what was refused."""

    def __init__(self) -> None:
        self.violations: list[str] = []
        self.enabled = True
        self._lock = threading.Lock()
        self._originals: dict[tuple[Any, str], Any] = {}

    # -- install / uninstall ----------------------------------------------------------

    def install(self) -> None:
        """Guard sockets now and litellm as soon as it is imported."""
        from ace.llm import _litellm

        self._patch(socket.socket, "connect", self._guard_connect)
        self._patch(socket.socket, "connect_ex", self._guard_connect)
        self._patch(socket.socket, "sendto", self._guard_sendto)
        self._patch(socket, "getaddrinfo", self._guard_getaddrinfo)
        _litellm.on_load(self.guard_litellm)
        self.guard_litellm_if_imported()

    def uninstall(self) -> None:
        """Restore everything that ``install`` replaced."""
        with self._lock:
            for (owner, name), original in self._originals.items():
                setattr(owner, name, original)
            self._originals.clear()

    def guard_litellm_if_imported(self) -> None:
        """Guard litellm if someone imported it without going through ``ace.llm``."""
        module = sys.modules.get("litellm")
        if module is not None and hasattr(module, "custom_provider_map"):
            self.guard_litellm(module)

    def guard_litellm(self, litellm: Any) -> None:
        """Wrap litellm's request functions (idempotent)."""
        for name in _GUARDED:
            if (litellm, name) not in self._originals and hasattr(litellm, name):
                self._patch(litellm, name, functools.partial(self._wrap_request, litellm))

    @contextmanager
    def expect_block(self) -> Iterator[list[str]]:
        """Inside, refusals are expected: they are yielded, not held against the test."""
        start = len(self.violations)
        caught: list[str] = []
        try:
            yield caught
        finally:
            with self._lock:
                caught.extend(self.violations[start:])
                del self.violations[start:]

    def _patch(self, owner: Any, name: str, wrap: Callable[[Any], Any]) -> None:
        """Replace ``owner.name`` with ``wrap(original)``, remembering the original."""
        with self._lock:
            if (owner, name) in self._originals:
                return
            original = getattr(owner, name)
            self._originals[(owner, name)] = original
            setattr(owner, name, wrap(original))

    def _refuse(self, error: BaseException) -> BaseException:
        with self._lock:
            self.violations.append(str(error))
        return error

    # -- litellm layer ------------------------------------------------------------------

    def _wrap_request(self, litellm: Any, original: Callable[..., Any]) -> Callable[..., Any]:
        tripwire = self

        @functools.wraps(original)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            model = kwargs.get("model", args[0] if args else None)
            if tripwire.enabled and not _allowed_request(litellm, model, kwargs):
                raise tripwire._refuse(
                    ModelRequestBlocked(
                        f"ace.testing tripwire: a test tried to call the real model {model!r}. "
                        "Tests must not reach model providers: use ace.testing.ScriptedModel "
                        "or FunctionModel (their .name is the model string), or a loopback "
                        "api_base for a local server.",
                        model=str(model),
                    )
                )
            return original(*args, **kwargs)

        return guarded

    # -- socket layer -------------------------------------------------------------------

    def _network_error(self, what: str, address: object) -> BaseException:
        return self._refuse(
            NetworkBlockedError(
                f"ace.testing tripwire: a test tried to {what} {address!r}; tests may only use "
                "loopback addresses (127.0.0.1, ::1, localhost) and unix sockets."
            )
        )

    def _guard_connect(self, original: Callable[..., Any]) -> Callable[..., Any]:
        tripwire = self

        @functools.wraps(original)
        def connect(sock: socket.socket, address: Any) -> Any:
            if tripwire.enabled and not _local_address(sock, address):
                raise tripwire._network_error("connect to", address)
            return original(sock, address)

        return connect

    def _guard_sendto(self, original: Callable[..., Any]) -> Callable[..., Any]:
        tripwire = self

        @functools.wraps(original)
        def sendto(sock: socket.socket, data: Any, *rest: Any) -> Any:
            if tripwire.enabled and rest and not _local_address(sock, rest[-1]):
                raise tripwire._network_error("send to", rest[-1])
            return original(sock, data, *rest)

        return sendto

    def _guard_getaddrinfo(self, original: Callable[..., Any]) -> Callable[..., Any]:
        tripwire = self

        @functools.wraps(original)
        def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
            if tripwire.enabled and not is_local_host(host):
                raise tripwire._network_error("look up", host)
            return original(host, *args, **kwargs)

        return getaddrinfo


def _local_address(sock: socket.socket, address: Any) -> bool:
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return True  # unix sockets, netlink, ...
    host = address[0] if isinstance(address, tuple) and address else address
    return is_local_host(host)


def _allowed_request(litellm: Any, model: object, kwargs: dict[str, Any]) -> bool:
    if kwargs.get("mock_response") is not None:
        return True
    provider = kwargs.get("custom_llm_provider")
    if provider is None and isinstance(model, str) and "/" in model:
        provider = model.split("/", 1)[0]
    if provider in {item.get("provider") for item in litellm.custom_provider_map}:
        return True
    api_base = kwargs.get("api_base") or kwargs.get("base_url")
    return isinstance(api_base, str) and is_local_host(urlsplit(api_base).hostname)
