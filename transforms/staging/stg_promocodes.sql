/*
description: Promocodes named in sources.livello.promocodes (GET /promocodes/{code}, one request per code, as the API cannot list them), current state. Their discount rules are the child table promocodes__config__rules.
grain: one promocode
columns:
  promocode_id: Promocode id.
  code: The 5-digit code customers enter (text, as leading zeros count).
  organization_id: Organization the code belongs to.
  balance: Remaining balance (number of uses).
  is_enabled: The code can be used.
  valid_from_utc: Start of the code's working period, UTC.
  valid_to_utc: End of the code's working period, UTC.
  config_id: Discount configuration (rules per day of week) the code uses.
  is_config_enabled: The configuration is enabled.
  _dlt_id: dlt's id of the row; the configuration's rules point to it (promocodes__config__rules._dlt_parent_id).
*/
SELECT
    CAST(p.id AS BIGINT) AS promocode_id,
    CAST(p.code AS VARCHAR) AS code,
    CAST(p.organization_id AS BIGINT) AS organization_id,
    CAST(p.balance AS DECIMAL(18, 2)) AS balance,
    CAST(p.enabled AS BOOLEAN) AS is_enabled,
    timezone('UTC', CAST(p.working_duration_start AS TIMESTAMPTZ)) AS valid_from_utc,
    timezone('UTC', CAST(p.working_duration_end AS TIMESTAMPTZ)) AS valid_to_utc,
    CAST(p.config__id AS BIGINT) AS config_id,
    CAST(p.config__enabled AS BOOLEAN) AS is_config_enabled,
    CAST(p._dlt_id AS VARCHAR) AS _dlt_id
FROM raw.promocodes AS p
