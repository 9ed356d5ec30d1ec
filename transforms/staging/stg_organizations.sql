/*
description: Organizations of GET /organizations (the client's own and its descendants), renamed and cast.
grain: one organization
columns:
  organization_id: Organization id (the API's numeric `id`).
  name: Organization name.
  slug: URL slug.
  type: CLIENT, GENERAL or MANUFACTURER (upper case as the API sends it).
  parent_organization_id: Parent organization id; null for a root organization.
  currency: ISO currency code of the organization (upper case).
  description: Free text description.
  city: City of the organization's address.
  country_code: ISO alpha-2 country code of the address.
  kiosk_count: Number of kiosks the API reports for the organization.
  created_at_utc: Creation time, UTC.
*/
SELECT
    CAST(o.id AS BIGINT) AS organization_id,
    CAST(o.name AS VARCHAR) AS name,
    CAST(o.slug AS VARCHAR) AS slug,
    upper(CAST(o.type AS VARCHAR)) AS type,
    CAST(o.parent_org AS BIGINT) AS parent_organization_id,
    upper(CAST(o.currency AS VARCHAR)) AS currency,
    CAST(o.description AS VARCHAR) AS description,
    CAST(o.address__city AS VARCHAR) AS city,
    CAST(o.address__country_code AS VARCHAR) AS country_code,
    CAST(o.kiosk_count AS INTEGER) AS kiosk_count,
    timezone('UTC', CAST(o.created_at AS TIMESTAMPTZ)) AS created_at_utc
FROM raw.organizations AS o
