"""How a run with several API clients splits the fleet: which client reads which kiosks' per-kiosk data.

A kiosk goes to the client scoped to the deepest organization that contains it (its own organization, else
the nearest ancestor some client is scoped to); several clients scoped to that same organization share its
kiosks evenly. Kiosks that no scoped client covers are shared evenly by the clients that see every
organization (the primary among them). "Evenly": a group's kiosks in serial-number order are dealt out in
turn, so the split is deterministic and the shares differ by one kiosk at most.

A client's listings need a kiosk filter only when its own scope (what the API shows it) holds more kiosks
than it was given; when the two are equal it reads them unfiltered, which costs no extra request per chunk
of serial numbers.

What a kiosk and an organization row look like (the fields of the serial number, the owner, the parent) is
declared in sources/livello/endpoints.py (`FLEET`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sources.livello.config import ApiClient, SettingError, setting_names
from sources.livello.endpoints import FLEET, FleetSplit


@dataclass(frozen=True)
class Assignment:
    """The kiosks one client reads fleet data for, and what its listings need to be restricted to them."""

    kiosks: frozenset[str]  # the serial numbers assigned to the client
    scope: frozenset[str]  # the serial numbers the client's own scope holds
    # None: the listings are read unfiltered (the scope is exactly the assigned kiosks).
    kiosk_filter: tuple[str, ...] | None


def _organization_id(value: Any) -> int | None:
    text = str(value if value is not None else "").strip()
    return int(text) if text.lstrip("-").isdigit() else None


def split_fleet(
    clients: Sequence[ApiClient],
    kiosks: Sequence[dict[str, Any]],
    organizations: Sequence[dict[str, Any]],
    fleet: FleetSplit = FLEET,
) -> dict[str, Assignment]:
    """Client name -> its assignment. A client scoped to an organization the primary does not list is a
    SettingError (nothing has been loaded yet)."""
    parents: dict[int, int | None] = {}
    for row in organizations:
        org = _organization_id(row.get(fleet.id))
        if org is not None:
            parents[org] = _organization_id(row.get(fleet.parent))
    for client in clients:
        if client.organization_id is not None and client.organization_id not in parents:
            known = ", ".join(str(o) for o in sorted(parents)) or "none"
            raise SettingError(
                f"{setting_names('clients')} client {client.name!r}: organization_id "
                f"{client.organization_id} is not an organization the primary client "
                f"({clients[0].name!r}) sees (known: {known})"
            )

    def chain(org: int | None) -> list[int]:
        """The organization and its ancestors, nearest first."""
        seen: list[int] = []
        while org is not None and org not in seen:
            seen.append(org)
            org = parents.get(org)
        return seen

    serials = sorted(str(row[fleet.serial]) for row in kiosks if row.get(fleet.serial) is not None)
    owner = {str(row[fleet.serial]): _organization_id(row.get(fleet.owner)) for row in kiosks}
    unscoped = [c for c in clients if c.organization_id is None]
    groups: dict[tuple[str, ...], list[str]] = {}
    scopes: dict[str, set[str]] = {c.name: set() for c in clients}
    for serial in serials:
        ancestors = chain(owner.get(serial))
        for client in clients:
            if client.organization_id is None or client.organization_id in ancestors:
                scopes[client.name].add(serial)
        group = unscoped
        for org in ancestors:  # nearest first: the deepest organization a client is scoped to wins
            scoped = [c for c in clients if c.organization_id == org]
            if scoped:
                group = scoped
                break
        groups.setdefault(tuple(c.name for c in group), []).append(serial)
    assigned: dict[str, set[str]] = {c.name: set() for c in clients}
    for names, members in groups.items():
        for index, serial in enumerate(members):  # already in serial-number order
            assigned[names[index % len(names)]].add(serial)
    return {
        c.name: Assignment(
            frozenset(assigned[c.name]),
            frozenset(scopes[c.name]),
            None if assigned[c.name] == scopes[c.name] else tuple(sorted(assigned[c.name])),
        )
        for c in clients
    }
