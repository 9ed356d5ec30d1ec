/*
description: VAT rates configured per organization (GET /organizations/{id}/vat).
grain: one VAT rate of one organization
columns:
  organization_id: Organization the rate belongs to.
  vat_rate_id: Id of the rate within the organization.
  name: Rate name (e.g. "Standard").
  rate_percent: Rate in percent (19 means 19 %).
  country_code: ISO alpha-2 country code.
*/
SELECT
    CAST(v.organization_id AS BIGINT) AS organization_id,
    CAST(v.id AS BIGINT) AS vat_rate_id,
    CAST(v.name AS VARCHAR) AS name,
    CAST(v.value AS DECIMAL(9, 4)) AS rate_percent,
    CAST(v.country_code AS VARCHAR) AS country_code
FROM raw.vat_rates AS v
