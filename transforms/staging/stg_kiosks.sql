/*
description: Kiosks of GET /kiosks (the fleet listing), renamed and cast; int_kiosks completes them with GET /kiosks/{serialNumber}.
grain: one kiosk
columns:
  kiosk_serial_number: Kiosk serial number (e.g. LIV-0042), the kiosk's key everywhere.
  name: Kiosk name.
  organization_id: Owner organization id (the API sends `orgId` as a string; cast to the organizations' numeric id).
  organization_name: Owner organization name.
  timezone: IANA time zone of the kiosk.
  street: Street of the kiosk address.
  postal_code: Postal code of the kiosk address.
  city: City of the kiosk address.
  country_code: ISO alpha-2 country code of the kiosk address.
  is_online: Whether the kiosk was online at the last sync.
  network_last_online_utc: Last network contact, UTC.
  latest_temperature_celsius: Latest temperature reading in °C at the last sync.
  load_cell_count: Number of load cells.
  created_at_utc: Kiosk creation time, UTC.
*/
SELECT
    CAST(k.serial_number AS VARCHAR) AS kiosk_serial_number,
    CAST(k.name AS VARCHAR) AS name,
    CAST(k.org_id AS BIGINT) AS organization_id,
    CAST(k.organization_name AS VARCHAR) AS organization_name,
    CAST(k.timezone AS VARCHAR) AS timezone,
    CAST(k.address__street AS VARCHAR) AS street,
    CAST(k.address__postal_code AS VARCHAR) AS postal_code,
    CAST(k.address__city AS VARCHAR) AS city,
    CAST(k.address__country_code AS VARCHAR) AS country_code,
    CAST(k.online AS BOOLEAN) AS is_online,
    timezone('UTC', CAST(k.network_last_online AS TIMESTAMPTZ)) AS network_last_online_utc,
    CAST(k.latest_temperature AS DECIMAL(9, 2)) AS latest_temperature_celsius,
    CAST(k.load_cell_count AS INTEGER) AS load_cell_count,
    timezone('UTC', CAST(k.created_at AS TIMESTAMPTZ)) AS created_at_utc
FROM raw.kiosks AS k
