/*
description: Operational alerts in their current state (alerts change after creation; each sync re-reads open ones).
grain: one alert (current state)
unique:
  - alert_id
not_null: [alert_id, kiosk_serial_number, type, severity, status, started_at_utc, date_key, is_ack]
relationships:
  - kiosk_serial_number: dim_kiosk.kiosk_serial_number
  - date_key: dim_date.date_key
columns:
  alert_id: Alert id (text; the API may send numbers or strings).
  kiosk_serial_number: Kiosk the alert is about.
  type: Alert type (e.g. HighTemperature).
  category: Alert category.
  severity: low, mid or high.
  status: open, raised or resolved.
  is_ack: Acknowledged by an operator.
  is_resolved: status is resolved.
  message: Alert message.
  started_at_utc: Start, UTC.
  started_at_local: Start in the kiosk's time zone.
  date_key: Kiosk-local start date, yyyymmdd (dim_date).
  local_date: Kiosk-local start date.
  resolved_at_utc: End, UTC; null until resolved.
  duration_minutes: Whole minutes from start to end; null until resolved.
  updated_at_utc: Last change of the alert, UTC.
*/
WITH localized AS (
    SELECT a.*, local_time(a.started_at_utc, k.timezone) AS started_at_local
    FROM stg_alerts AS a
    LEFT JOIN int_kiosks AS k ON k.kiosk_serial_number = a.kiosk_serial_number
)
SELECT
    a.alert_id,
    a.kiosk_serial_number,
    a.type,
    a.category,
    a.severity,
    a.status,
    COALESCE(a.is_ack, FALSE) AS is_ack,
    (a.status = 'resolved') AS is_resolved,
    a.message,
    a.started_at_utc,
    a.started_at_local,
    date_key(a.started_at_local) AS date_key,
    CAST(a.started_at_local AS DATE) AS local_date,
    a.resolved_at_utc,
    CAST(EXTRACT(EPOCH FROM (a.resolved_at_utc - a.started_at_utc)) AS BIGINT) // 60 AS duration_minutes,
    a.updated_at_utc
FROM localized AS a
