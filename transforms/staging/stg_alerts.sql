/*
description: Operational alerts (GET /alerts), current state of each alert.
grain: one alert
columns:
  alert_id: Alert id (the contract allows numbers or strings; kept as text).
  kiosk_serial_number: Kiosk the alert is about.
  kiosk_name: Kiosk name.
  type: Alert type (e.g. HighTemperature).
  category: Alert category.
  severity: low, mid or high.
  status: open, raised or resolved.
  is_ack: Acknowledged by an operator.
  message: Alert message.
  started_at_utc: Start of the alert, UTC.
  resolved_at_utc: End of the alert, UTC; null until resolved.
  created_at_utc: Creation time, UTC.
  updated_at_utc: Last change, UTC.
*/
SELECT
    CAST(a.id AS VARCHAR) AS alert_id,
    CAST(a.kiosk_serial_number AS VARCHAR) AS kiosk_serial_number,
    CAST(a.kiosk_name AS VARCHAR) AS kiosk_name,
    CAST(a.type AS VARCHAR) AS type,
    CAST(a.category AS VARCHAR) AS category,
    CAST(a.severity AS VARCHAR) AS severity,
    CAST(a.status AS VARCHAR) AS status,
    CAST(a.is_ack AS BOOLEAN) AS is_ack,
    CAST(a.message AS VARCHAR) AS message,
    timezone('UTC', CAST(a.start_date AS TIMESTAMPTZ)) AS started_at_utc,
    timezone('UTC', CAST(a.end_date AS TIMESTAMPTZ)) AS resolved_at_utc,
    timezone('UTC', CAST(a.created_at AS TIMESTAMPTZ)) AS created_at_utc,
    timezone('UTC', CAST(a.updated_at AS TIMESTAMPTZ)) AS updated_at_utc
FROM raw.alerts AS a
