/*
description: Kiosks in their current state, with their owner organization's currency and their own time zone.
grain: one kiosk (current state)
unique:
  - kiosk_serial_number
not_null: [kiosk_serial_number, timezone, currency]
relationships:
  - organization_id: dim_organization.organization_id
columns:
  kiosk_serial_number: Kiosk serial number (e.g. LIV-0042).
  name: Kiosk name.
  organization_id: Owner organization.
  organization_name: Owner organization name.
  timezone: IANA time zone of the kiosk; kiosk-local dates and hours of every fact use it.
  currency: Currency of the kiosk (the owner organization's); all its money facts are in it.
  street: Street of the kiosk address.
  postal_code: Postal code.
  city: City.
  country_code: ISO alpha-2 country code.
  is_online: Online at the last sync.
  network_last_online_utc: Last network contact, UTC.
  latest_temperature_celsius: Latest temperature at the last sync, °C.
  load_cell_count: Number of load cells.
  controller_payment_type: Payment setup of the kiosk controller.
  created_at_utc: Kiosk creation time, UTC.
*/
SELECT
    kiosk_serial_number,
    name,
    organization_id,
    organization_name,
    timezone,
    currency,
    street,
    postal_code,
    city,
    country_code,
    is_online,
    network_last_online_utc,
    latest_temperature_celsius,
    load_cell_count,
    controller_payment_type,
    created_at_utc
FROM int_kiosks
