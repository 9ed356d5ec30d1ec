/*
description: |
  Promocodes the sync reads (sources.livello.promocodes names them: the API cannot list codes), in their current
  state, with their organization's name and currency. Empty until codes are configured.
grain: one promocode
unique:
  - code
not_null: [code, promocode_id, is_enabled, is_config_enabled]
relationships:
  - organization_id: dim_organization.organization_id
columns:
  code:
  promocode_id:
  organization_id: Organization the code belongs to (dim_organization).
  organization_name: Name of that organization.
  currency: Currency of the organization (flat discounts are in it).
  balance:
  is_enabled:
  valid_from_utc:
  valid_to_utc:
  config_id:
  is_config_enabled:
  is_usable: Enabled, configuration enabled and balance left (validity dates aside).
*/
SELECT
    p.code,
    p.promocode_id,
    p.organization_id,
    o.name AS organization_name,
    o.currency,
    p.balance,
    COALESCE(p.is_enabled, FALSE) AS is_enabled,
    p.valid_from_utc,
    p.valid_to_utc,
    p.config_id,
    COALESCE(p.is_config_enabled, FALSE) AS is_config_enabled,
    (COALESCE(p.is_enabled, FALSE) AND COALESCE(p.is_config_enabled, FALSE) AND COALESCE(p.balance, 0) > 0)
        AS is_usable
FROM stg_promocodes AS p
LEFT JOIN dim_organization AS o ON o.organization_id = p.organization_id
