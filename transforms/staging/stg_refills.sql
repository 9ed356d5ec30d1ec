/*
description: Refill sessions of GET /refills, with kiosk-local time.
grain: one refill session
columns:
  refill_id: Refill id.
  kiosk_serial_number: Kiosk refilled.
  kiosk_name: Kiosk name as embedded in the refill.
  created_at_utc: Refill time, UTC.
  kiosk_timezone: IANA time zone of the kiosk used for the local time.
  created_at_local: Refill time in the kiosk's own time zone.
  refill_type: manual or pin.
  operator_user_id: User who refilled, if known.
  session_closed_at_utc: When the refill session closed, UTC.
*/
SELECT
    CAST(r.id AS BIGINT) AS refill_id,
    CAST(r.kiosk__serial_number AS VARCHAR) AS kiosk_serial_number,
    CAST(r.kiosk__name AS VARCHAR) AS kiosk_name,
    timezone('UTC', CAST(r.created AS TIMESTAMPTZ)) AS created_at_utc,
    CAST(COALESCE(k.timezone, d.timezone) AS VARCHAR) AS kiosk_timezone,
    timezone(CAST(COALESCE(k.timezone, d.timezone) AS VARCHAR), CAST(r.created AS TIMESTAMPTZ)) AS created_at_local,
    CAST(r.type AS VARCHAR) AS refill_type,
    CAST(r.operator_user_id AS BIGINT) AS operator_user_id,
    timezone('UTC', CAST(r.session_closed_at AS TIMESTAMPTZ)) AS session_closed_at_utc
FROM raw.refills AS r
LEFT JOIN raw.kiosks AS k ON k.serial_number = r.kiosk__serial_number
LEFT JOIN raw.kiosk_details AS d ON d.serial_number = r.kiosk__serial_number
