"""GET /users, /users/{id} (reads); POST/PATCH live in routes/writes.py."""

from __future__ import annotations

from typing import Any

from simulator.params import Query, render_utc
from simulator.routes import Ctx, Listing, Reply, route

# The contract's role vocabulary (users `role` filter) for the store's role codes.
ROLE_SQL = """CASE lower(u.role) WHEN 'customer' THEN 'consumer' WHEN 'manager' THEN 'superadmin'
              ELSE lower(u.role) END"""
ROLES = ("admin", "superadmin", "consumer", "operator")
USER_SELECT = f"""
    SELECT u.*, {ROLE_SQL} AS role_name, o.name AS organization_name
    FROM users u JOIN organizations o ON o.id = u.organization_id
"""


def render_user(r: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": r["id"],
        "email": r["email"],
        "firstName": r["first_name"],
        "lastName": r["last_name"],
        "status": r["status"],
        "root": bool(r["root"]),
        "lang": r["lang"],
        "termsAccepted": bool(r["terms_accepted"]),
        "membercards": list(r["membercards"] or []),
        "rolesInOrganizations": [
            {
                "organizationId": r["organization_id"],
                "organizationName": r["organization_name"],
                "role": r["role_name"],
            }
        ],
        "mobile": r["mobile"],
        "organizationId": r["organization_id"],
        "created": render_utc(r["created"]),
        "updated": render_utc(r["updated"]),
    }


def _role_filter(q: Query, where: list[str], params: list[Any]) -> None:
    role = q.enum("role", ROLES)
    if role is not None:
        where.append(f"({ROLE_SQL}) = ?")
        params.append(role)


Listing(
    path="/users",
    scope="users:read",
    count_from="users u",
    select=USER_SELECT,
    org_column="u.organization_id",
    render=render_user,
    sort_columns={
        "firstName": "u.first_name",
        "role": "role_name",
        "organizationName": "organization_name",
        "updated": "u.updated",
    },
    default_sort="firstName",
    unique="u.id",
    text_filters=(("name", "(u.first_name || ' ' || u.last_name)", True),),
    filters=_role_filter,
).register()


def visible_user(ctx: Ctx, user_id: int) -> dict[str, Any]:
    return ctx.visible(ctx.store.query_dicts(f"{USER_SELECT} WHERE u.id = ?", [user_id]), f"User {user_id}")


@route("GET", "/users/{id}")
def get_user(ctx: Ctx) -> Reply:
    ctx.require("users:read")
    return Reply(200, render_user(visible_user(ctx, ctx.path_int("id"))))
