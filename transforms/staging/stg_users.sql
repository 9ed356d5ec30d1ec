/*
description: Users (GET /users); personal fields arrive pseudonymized unless the operator opted out.
grain: one user
columns:
  user_id: User id (matches transactions' user_id; 0 there means anonymous).
  email: E-mail (pseudonymized).
  first_name: First name (pseudonymized).
  last_name: Last name (pseudonymized).
  mobile: Mobile number (pseudonymized).
  status: ACTIVE or INACTIVE.
  is_root: Root user of the organization.
  lang: Preferred language.
  terms_accepted: Terms accepted.
  organization_id: Organization of the user.
  created_at_utc: Creation time, UTC.
  updated_at_utc: Last change, UTC.
*/
SELECT
    CAST(u.id AS BIGINT) AS user_id,
    CAST(u.email AS VARCHAR) AS email,
    CAST(u.first_name AS VARCHAR) AS first_name,
    CAST(u.last_name AS VARCHAR) AS last_name,
    CAST(u.mobile AS VARCHAR) AS mobile,
    CAST(u.status AS VARCHAR) AS status,
    CAST(u.root AS BOOLEAN) AS is_root,
    CAST(u.lang AS VARCHAR) AS lang,
    CAST(u.terms_accepted AS BOOLEAN) AS terms_accepted,
    CAST(u.organization_id AS BIGINT) AS organization_id,
    timezone('UTC', CAST(u.created AS TIMESTAMPTZ)) AS created_at_utc,
    timezone('UTC', CAST(u.updated AS TIMESTAMPTZ)) AS updated_at_utc
FROM raw.users AS u
