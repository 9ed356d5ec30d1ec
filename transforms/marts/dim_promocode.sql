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
  code: The 5-digit code customers enter (text, as leading zeros count).
  promocode_id: Promocode id.
  organization_id: Organization the code belongs to (dim_organization).
  organization_name: Name of that organization.
  currency: Currency of the organization (flat discounts are in it).
  balance: Remaining balance (number of uses).
  is_enabled: The code can be used.
  valid_from_utc: Start of the code's working period, UTC.
  valid_to_utc: End of the code's working period, UTC.
  config_id: Discount configuration (rules per day of week) the code uses.
  is_config_enabled: The configuration is enabled.
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
