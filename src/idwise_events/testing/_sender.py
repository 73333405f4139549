"""One POST as IDWise makes it, for the send commands: never following a redirect.

Shared by ``idwise-events send`` and ``manage.py idwise_events_send``, which turn `NoAnswerError`
into their own one-line errors.
"""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import IO, Any
from urllib.parse import unquote, urlsplit, urlunsplit

from .._errors import IdwiseEventsError


@dataclass(frozen=True)
class Answer:
    """What the receiver answered one POST."""

    status: int
    body: bytes
    location: str | None = None
    """The ``Location`` header of a redirect (3xx), which IDWise does not follow."""

    @property
    def redirected(self) -> bool:
        """True for a 3xx: the receiver sent the delivery elsewhere, and IDWise would not go."""
        return 300 <= self.status < 400


class NoAnswerError(IdwiseEventsError):
    """No HTTP answer came back: unknown host, connection refused, TLS failure, timeout.

    The message is the reason alone (``Connection refused``), for the caller to put after the
    URL it shows.
    """


def split_url(url: str) -> tuple[str, tuple[str, str] | None]:
    """``url`` without its ``user:password@``, and those (percent-decoded), as curl reads them.

    ``(url, None)`` when the URL carries no credentials.

    Raises:
        ValueError: If ``url`` is not an http(s) URL with a host, or its credentials lack a user
            or a password (or the user holds ``:``, which Basic Authentication cannot carry).
            The message shows the URL without its credentials.
    """
    try:
        parts = urlsplit(url)
        bare = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
        checked = urlsplit(bare)
        checked.port  # noqa: B018 -- raises ValueError for a port that is not a number in range
    except ValueError as exc:
        raise ValueError("must be an http:// or https:// URL with a host") from exc
    if checked.scheme not in ("http", "https") or not checked.hostname:
        raise ValueError(f"must be an http:// or https:// URL with a host, not {bare!r}")
    if parts.username is None and parts.password is None:
        return bare, None
    user, password = unquote(parts.username or ""), unquote(parts.password or "")
    if not user or not password or ":" in user:
        raise ValueError(
            "with credentials needs a user (without ':') and a password: http://USER:PASS@host/"
        )
    return bare, (user, password)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Hand a 3xx back as the answer: IDWise does not follow redirects, nor resend credentials."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: Any,
        newurl: str,
    ) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def post(url: str, body: bytes, headers: dict[str, str], *, timeout: float) -> Answer:
    """POST ``body`` to ``url`` (without credentials in it) with ``headers``; any status answers.

    Raises:
        NoAnswerError: If there is no answer: the host is unknown or refuses connections, TLS
            fails, the answer breaks off, or nothing comes back within ``timeout`` seconds. The
            message never quotes a header.
    """
    request = urllib.request.Request(  # noqa: S310 -- the commands allow http(s) URLs only
        url, data=body, method="POST", headers=headers
    )
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            return Answer(response.status, response.read())
    except urllib.error.HTTPError as error:  # a status other than 2xx is still an answer
        with error:
            return Answer(error.code, error.read(), error.headers.get("Location"))
    except urllib.error.URLError as exc:
        reason = exc.reason
        text = reason.strerror if isinstance(reason, OSError) and reason.strerror else str(reason)
        if isinstance(reason, TimeoutError):
            text = f"no answer within {timeout:g} s"
        raise NoAnswerError(text) from exc
    except TimeoutError as exc:
        raise NoAnswerError(f"no answer within {timeout:g} s") from exc
    except (OSError, http.client.HTTPException) as exc:  # dropped mid-answer, not HTTP...
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise NoAnswerError(f"no complete answer: {reason}") from exc
