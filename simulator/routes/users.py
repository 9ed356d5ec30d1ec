"""GET /users, /users/{id} (reads); POST/PATCH live in routes/writes.py."""

from __future__ import annotations

from typing import Any

from simulator.params import render_utc
from simulator.problems import not_found
from simulator.routes import Ctx, Reply, ilike_contains, in_list_sql, paged, route

# The contract's role vocabulary (users `role` filter) for the store's role codes.
ROLE_SQL = """CASE lower(u.role) WHEN 'customer' THEN 'consumer' WHEN 'manager' THEN 'superadmin'
              ELSE lower(u.role) END"""
ROLES = ("admin", "superadmin", "consumer", "operator")
_SORT_COLUMNS = {
    "firstName": "first_name",
    "role": "role_name",
    "organizationName": "organization_name",
    "updated": "updated",
}

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


@route("GET", "/users")
def list_users(ctx: Ctx) -> Reply:
    ctx.require("users:read")
    q = ctx.query
    direction = "ASC" if q.sort_direction(1) == 1 else "DESC"
    column = _SORT_COLUMNS[q.sort_by(list(_SORT_COLUMNS), "firstName")]
    limit, skip = q.limit(), q.skip()
    params: list[Any] = []
    where = [in_list_sql("u.organization_id", ctx.org_ids, params)]
    name = q.string("name")
    if name is not None:
        where.append(ilike_contains("(u.first_name || ' ' || u.last_name)", name, params))
    role = q.enum("role", ROLES)
    if role is not None:
        where.append(f"({ROLE_SQL}) = ?")
        params.append(role)
    where_sql = " AND ".join(where)
    total = ctx.store.scalar(f"SELECT count(*) FROM users u WHERE {where_sql}", params)
    rows = ctx.store.query_dicts(
        f"SELECT * FROM ({USER_SELECT} WHERE {where_sql}) ORDER BY {column} {direction}, id LIMIT ? OFFSET ?",
        [*params, limit, skip],
    )
    return paged(total, [render_user(r) for r in rows])


def visible_user(ctx: Ctx, user_id: int) -> dict[str, Any]:
    rows = ctx.store.query_dicts(f"{USER_SELECT} WHERE u.id = ?", [user_id])
    if not rows or not ctx.org_visible(rows[0]["organization_id"]):
        raise not_found(f"User {user_id} not found")
    return rows[0]


@route("GET", "/users/{id}")
def get_user(ctx: Ctx) -> Reply:
    ctx.require("users:read")
    return Reply(200, render_user(visible_user(ctx, ctx.path_int("id"))))
