"""Which endpoints beyond the brief a simulated gateway serves, and how it dresses them.

One row per path: the body, how the reply is dressed (no Content-Type on ``/ivp/*``; JSON
with no-cache headers from the older web back end) and the firmware that serves it. Hardware
decides the body, not the presence: a gateway without batteries still answers
``/ivp/ensemble/power``, with an empty list, as the captures show. A path the firmware lacks
gets that firmware's 404 from the device.
"""

from __future__ import annotations

import enum
from collections.abc import Callable

import attrs

from enphase_local.simulator import bodies, devices, ensemble, settings, summary
from enphase_local.simulator.firmware import Change, has
from enphase_local.simulator.profiles import Profile
from enphase_local.simulator.snapshot import Snapshot

#: Renders a body from the gateway's state.
Body = Callable[[Snapshot], bytes]


class Dress(enum.Enum):
    """How a reply is dressed."""

    #: JSON without a Content-Type (``/ivp/*``).
    IVP = "ivp"
    #: ``application/json`` with no-cache headers (``/production.json``, ``/home``, ...).
    WEB = "web"
    #: JSON, typed ``application/json`` before 8.3 and untyped since (``/admin/lib/*``).
    ADMIN = "admin"
    #: ``text/html`` (the old firmware's pages).
    HTML = "html"


@attrs.frozen
class Endpoint:
    """One path a gateway serves."""

    #: The body.
    body: Body
    #: How the reply is dressed.
    dress: Dress
    #: The firmware that serves it.
    since: Change = Change.ENSEMBLE


def _pv_readings(snapshot: Snapshot) -> bytes:
    return bodies.pv_readings(snapshot.plant, snapshot.flows)


ENDPOINTS: dict[str, Endpoint] = {
    "/ivp/ensemble/inventory": Endpoint(ensemble.inventory, Dress.IVP),
    "/ivp/ensemble/power": Endpoint(ensemble.power, Dress.IVP),
    "/ivp/ensemble/secctrl": Endpoint(ensemble.secctrl, Dress.IVP),
    "/ivp/ensemble/status": Endpoint(ensemble.status, Dress.IVP),
    "/ivp/ensemble/relay": Endpoint(ensemble.relay, Dress.IVP),
    "/ivp/ensemble/dry_contacts": Endpoint(ensemble.dry_contacts, Dress.IVP),
    "/ivp/ss/dry_contact_settings": Endpoint(settings.dry_contact_settings, Dress.IVP),
    "/ivp/ensemble/generator": Endpoint(ensemble.generator, Dress.IVP),
    "/ivp/ss/gen_config": Endpoint(settings.gen_config, Dress.IVP),
    "/ivp/ss/gen_schedule": Endpoint(settings.gen_schedule, Dress.IVP),
    "/ivp/ss/gen_mode": Endpoint(settings.gen_mode, Dress.IVP),
    "/ivp/sc/pvlimit": Endpoint(settings.pv_limit, Dress.IVP),
    "/ivp/ss/pel_settings": Endpoint(settings.export_limit, Dress.IVP),
    "/admin/lib/tariff": Endpoint(settings.tariff, Dress.ADMIN, Change.TARIFF),
    "/admin/lib/acb_config": Endpoint(settings.acb_config, Dress.ADMIN),
    "/ivp/pdm/device_data": Endpoint(devices.device_data, Dress.IVP, Change.DEVICE_DATA),
    "/ivp/meters/pvReading": Endpoint(_pv_readings, Dress.IVP, Change.DEVICE_DATA),
    "/production.json": Endpoint(summary.production_json, Dress.WEB, Change.API_PRODUCTION),
    "/inventory.json": Endpoint(devices.inventory_json, Dress.WEB, Change.API_PRODUCTION),
    "/home": Endpoint(summary.home, Dress.WEB),
}


def _page(snapshot: Snapshot) -> bytes:
    return summary.production_page(snapshot, whole=has(snapshot.profile, Change.API_PRODUCTION))


def _not_found_page(snapshot: Snapshot) -> bytes:
    del snapshot
    return bodies.PAGE_NOT_FOUND_HTML


def _production(profile: Profile) -> Endpoint:
    """``/production``: JSON from 7 on; before, the HTML page (5.x as ``text/html``; 3.x as
    the JSON type it wrongly sends)."""
    if has(profile, Change.PRODUCTION_JSON_PAGE):
        return Endpoint(summary.production_json, Dress.WEB)
    if has(profile, Change.PRODUCTION_PAGE_DIGEST):
        return Endpoint(_page, Dress.HTML)
    return Endpoint(_page, Dress.WEB)


def served(profile: Profile) -> dict[str, Endpoint]:
    """The endpoints beyond the brief that a gateway of this profile serves (GET only)."""
    routes = {path: e for path, e in ENDPOINTS.items() if has(profile, e.since)}
    routes["/production"] = _production(profile)
    if not has(profile, Change.API_PRODUCTION):
        # Older firmware answers with its "Page Not Found" page and status 200.
        routes["/production.json"] = Endpoint(_not_found_page, Dress.WEB)
    return routes
