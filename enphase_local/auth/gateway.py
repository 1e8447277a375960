"""The token flow with one gateway: check_jwt, the session cookie, renewal, 401 recovery.

Firmware 7 and newer want a token on every request. The flow kept here: check a token with
``/auth/check_jwt`` once and keep the ``sessionId`` cookie it hands out; send both from then
on; fetch the next token in the background before the current one is due and put it in use
only once the gateway accepted it; answer a 401 by checking the token again (the gateway's
session may have idled out), then by fetching a new one, then by failing clearly. Legacy
firmware needs no token, only HTTP digest credentials derived from the serial for one
endpoint.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Mapping
from typing import Any, Final

import aiohttp

from enphase_local.auth.cloud import USER_AGENT
from enphase_local.auth.legacy import envoy_password, installer_password
from enphase_local.auth.manager import TokenManager
from enphase_local.auth.token import Token
from enphase_local.endpoints import CHECK_JWT_PATH
from enphase_local.errors import (
    AuthenticationError,
    EndpointForbiddenError,
    HttpStatusError,
    PayloadError,
    TokenRejectedError,
    TokenSerialMismatchError,
)
from enphase_local.exchange import Exchange
from enphase_local.replies import SESSION_COOKIE, Reply, session_cookie

_LOGGER = logging.getLogger("enphase_local.session")

#: The ``aud`` of tokens for gateways that are not yet commissioned to a system.
UNCOMMISSIONED: Final = "un-commissioned"
#: What every request accepts (JSON from /ivp and /api, XML from /info) and who asks.
PLAIN_HEADERS: Final[Mapping[str, str]] = {
    "Accept": "application/json, text/xml;q=0.9, */*;q=0.5",
    "User-Agent": USER_AGENT,
}
_VALID_TOKEN_MARK: Final = b"Valid token"


class GatewayAuth:
    """Sends requests with whatever credentials the gateway's firmware wants."""

    def __init__(self, tokens: TokenManager | None, exchange: Exchange) -> None:
        #: The token manager, or None when no token was given.
        self.tokens = tokens
        #: The gateway's serial, once ``/info`` has been read (tokens must be issued for it).
        self.serial: str | None = None
        self._exchange = exchange
        #: The token the gateway last accepted at check_jwt (the session cookie belongs to it).
        self._checked: Token | None = None
        self._candidate: asyncio.Task[Token] | None = None
        self._session_id: str | None = None
        #: The headers last sent with a token: (token, cookie, headers).
        self._header_cache: tuple[Token, str | None, dict[str, str]] | None = None
        self._digest: dict[str, aiohttp.DigestAuthMiddleware] = {}

    async def close(self) -> None:
        """Stop a token renewal in flight, and the token manager."""
        candidate, self._candidate = self._candidate, None
        if candidate is not None and not candidate.done():
            candidate.cancel()
            await asyncio.gather(candidate, return_exceptions=True)
        if self.tokens is not None:
            await self.tokens.close()

    def adopt_serial(self, serial: str, *, for_tokens: bool) -> None:
        """The gateway's serial, read from ``/info``; with ``for_tokens``, tokens are fetched
        and checked for it (legacy firmware derives its digest passwords from it instead)."""
        self.serial = serial
        if for_tokens and self.tokens is not None:
            self.tokens.serial = serial

    # -- requests with a token ----------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        payload: Mapping[str, Any] | None = None,
        data: bytes | None = None,
    ) -> Reply:
        """Send a request with the token and session cookie, recovering from a 401 once.

        A request the gateway answered 401 was refused before it was acted on, so sending
        it again after the token check is safe for a write too.
        """
        # The steady state, checked here rather than in another coroutine: a checked token
        # that is neither expired nor due for renewal, and no renewal waiting to be adopted.
        manager = self.tokens
        token = manager.steady_token() if manager is not None and self._candidate is None else None
        if token is None or token is not self._checked:
            token = await self._usable_token()
        reply = await self._send(method, path, token, payload, data)
        if reply.status != 401:
            return reply
        _LOGGER.debug("%s %s: 401, re-checking the token", method, path)
        self._session_id = None
        self._checked = None
        try:
            await self.check_jwt(token)
        except TokenRejectedError:
            token = await self._replace(token)
        reply = await self._send(method, path, token, payload, data)
        if reply.status == 401:
            raise EndpointForbiddenError(
                f"{path}: the gateway accepts the token but refuses this endpoint "
                "(the token's role may be too low)"
            )
        return reply

    def _send(
        self,
        method: str,
        path: str,
        token: Token,
        payload: Mapping[str, Any] | None,
        data: bytes | None = None,
    ) -> Coroutine[Any, Any, Reply]:
        # Hands back the coroutine rather than awaiting it: one frame less per request.
        headers = self._headers(token, self._session_id)
        if method == "GET":
            return self._exchange.get(path, headers)
        return self._exchange.send(method, path, headers, payload=payload, data=data)

    def masked_headers(self) -> dict[str, str]:
        """The headers a request with a token carries, the token and cookie masked."""
        manager = self.tokens
        token = manager.token if manager is not None else None
        headers = dict(PLAIN_HEADERS)
        if token is not None:
            headers["Authorization"] = f"Bearer <{token}>"
        if self._session_id is not None:
            headers["Cookie"] = f"{SESSION_COOKIE}=<masked>"
        return headers

    def _headers(self, token: Token, cookie: str | None) -> dict[str, str]:
        """The request headers of a token and cookie, built once per pair."""
        cached = self._header_cache
        if cached is not None and cached[0] is token and cached[1] == cookie:
            return cached[2]
        headers = {**PLAIN_HEADERS, "Authorization": f"Bearer {token.secret()}"}
        if cookie is not None:
            headers["Cookie"] = f"{SESSION_COOKIE}={cookie}"
        # aiohttp copies the headers it is given: the dict can be shared by requests.
        self._header_cache = (token, cookie, headers)
        return headers

    async def _usable_token(self) -> Token:
        """The token to send, checked with the gateway."""
        manager = self.tokens
        if manager is None:
            raise AuthenticationError(f"gateway {self.serial} needs an access token")
        if self._candidate is not None:
            await self._adopt_candidate(manager)
        token = await manager.current()
        self._check_serial(token)
        if token is not self._checked and token != self._checked:
            try:
                await self.check_jwt(token)
            except TokenRejectedError:
                token = await self._replace(token)
        if (self._candidate is None or self._candidate.done()) and manager.needs_refresh():
            # Fetch the next token in the background; it is checked with the gateway and put
            # in use by a later request, so the request in hand goes ahead at once.
            self._candidate = asyncio.create_task(manager.fetch_candidate())
        return token

    async def _adopt_candidate(self, manager: TokenManager) -> None:
        task = self._candidate
        if task is None or not task.done():
            return
        self._candidate = None
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            _LOGGER.warning(
                "gateway %s: token refresh failed, still using %s: %s",
                self.serial,
                manager.token,
                error,
            )
            return
        candidate = task.result()
        if candidate == manager.token:
            return
        try:
            self._check_serial(candidate)
            await self.check_jwt(candidate)
        except AuthenticationError as err:
            _LOGGER.warning("gateway %s: the refreshed token was refused: %s", self.serial, err)
            await manager.reject(candidate)
            return
        manager.commit(candidate)
        _LOGGER.info("gateway %s: now using %s", self.serial, candidate)

    async def _replace(self, refused: Token) -> Token:
        assert self.tokens is not None
        token = await self.tokens.replace(refused, validate=self.check_jwt)
        self._check_serial(token)
        if token != self._checked:
            await self.check_jwt(token)
        return token

    def _check_serial(self, token: Token) -> None:
        if token.serial == UNCOMMISSIONED:
            return  # Entrez issues these for gateways not yet tied to a system
        if self.serial is not None and token.serial != self.serial:
            raise TokenSerialMismatchError(
                f"the token is for gateway {token.serial}, but the gateway is {self.serial}: "
                "it is not sent"
            )

    async def check_jwt(self, token: Token) -> None:
        """Ask the gateway whether it accepts ``token``; keep the session cookie it hands out."""
        self._check_serial(token)
        reply = await self._exchange.get(CHECK_JWT_PATH, self._headers(token, None))
        if reply.status == 401:
            raise TokenRejectedError(
                f"gateway {self.serial} rejected the access token {token} (expired, revoked, "
                "or issued for another gateway)"
            )
        if reply.status == 200 and _VALID_TOKEN_MARK not in reply.body:
            # Not a refusal (that is a 401): a busy or confused gateway. The token keeps
            # its good name; the request fails and is tried again later.
            raise PayloadError(
                "the gateway's answer to the token check is not the 'Valid token' page",
                endpoint=CHECK_JWT_PATH,
            )
        if reply.status != 200:
            raise HttpStatusError(
                f"{CHECK_JWT_PATH}: unexpected HTTP status {reply.status}",
                status=reply.status,
                endpoint=CHECK_JWT_PATH,
            )
        self._session_id = session_cookie(reply.headers)
        self._checked = token

    # -- legacy firmware ----------------------------------------------------------------------

    async def digest_get(self, path: str) -> Reply:
        """GET with HTTP digest credentials, as user ``envoy`` and then ``installer``."""
        serial = self.serial or ""
        for user, password in (
            ("envoy", envoy_password(serial)),
            ("installer", installer_password(serial)),
        ):
            middleware = self._digest.get(user)
            if middleware is None:
                middleware = self._digest[user] = aiohttp.DigestAuthMiddleware(user, password)
            reply = await self._exchange.get(path, PLAIN_HEADERS, middleware=middleware)
            if reply.status != 401:
                return reply
        raise AuthenticationError(
            f"{path}: the gateway refused digest authentication as 'envoy' and 'installer'"
        )
