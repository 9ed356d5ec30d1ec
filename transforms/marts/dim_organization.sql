/*
description: Organizations visible to the API client (its own and every descendant).
grain: one organization
unique:
  - organization_id
not_null: [organization_id, name, currency]
relationships:
  - parent_organization_id: dim_organization.organization_id
columns:
  organization_id: Organization id (numeric, as the API's organizations use).
  name: Organization name.
  type: CLIENT, GENERAL or MANUFACTURER.
  parent_organization_id: Parent organization; null for the top of the tree.
  currency: ISO currency the organization trades in; every money amount of its kiosks is in it.
  slug: URL slug.
  city: City of the organization's address.
  country_code: ISO alpha-2 country code.
  kiosk_count: Number of kiosks the API reports for the organization.
  created_at_utc: Creation time, UTC.
*/
SELECT
    organization_id,
    name,
    type,
    parent_organization_id,
    currency,
    slug,
    city,
    country_code,
    kiosk_count,
    created_at_utc
FROM stg_organizations
