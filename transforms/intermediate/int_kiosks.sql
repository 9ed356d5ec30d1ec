/*
description: |
  Every kiosk with what the marts need from three sources: the fleet listing (stg_kiosks), the kiosk detail
  (stg_kiosk_details) and the owner organization (stg_organizations). The listing wins where both kiosk
  sources carry a field; the currency is the owner's as the detail states it, else the organization's.
  dim_kiosk publishes it; every fact takes its kiosk's time zone and currency from here.
grain: one kiosk
unique:
  - kiosk_serial_number
columns:
  kiosk_serial_number: Kiosk serial number.
  name: Listing name, else the detail's.
  organization_id: Owner organization id, from the listing, else the detail.
  organization_name: Owner organization name, from the listing, else the organization.
  timezone: IANA time zone, from the listing, else the detail; kiosk-local times use it.
  currency: Currency of every money amount of the kiosk.
  street: Street (listing).
  postal_code: Postal code (listing).
  city: City (listing).
  country_code: Country code (listing).
  is_online: Online at the last sync (listing).
  network_last_online_utc: Last network contact, UTC (listing).
  latest_temperature_celsius: Latest temperature, °C (listing).
  load_cell_count: Number of load cells (listing).
  controller_payment_type: Payment setup of the controller (detail).
  created_at_utc: Creation time, UTC (listing).
*/
SELECT
    k.kiosk_serial_number,
    COALESCE(k.name, d.name) AS name,
    COALESCE(k.organization_id, d.organization_id) AS organization_id,
    COALESCE(k.organization_name, o.name) AS organization_name,
    COALESCE(k.timezone, d.timezone) AS timezone,
    COALESCE(d.owner_currency, o.currency) AS currency,
    k.street,
    k.postal_code,
    k.city,
    k.country_code,
    k.is_online,
    k.network_last_online_utc,
    k.latest_temperature_celsius,
    k.load_cell_count,
    d.controller_payment_type,
    k.created_at_utc
FROM stg_kiosks AS k
LEFT JOIN stg_kiosk_details AS d ON d.kiosk_serial_number = k.kiosk_serial_number
LEFT JOIN stg_organizations AS o ON o.organization_id = COALESCE(k.organization_id, d.organization_id)
