/*
description: Refill sessions of GET /refills (their item lines are stg_refill_items).
grain: one refill session
columns:
  refill_id: Refill id.
  kiosk_serial_number: Kiosk refilled.
  kiosk_name: Kiosk name as embedded in the refill.
  created_at_utc: Refill time, UTC.
  refill_type: manual or pin.
  operator_user_id: User who refilled, if known.
  session_closed_at_utc: When the refill session closed, UTC.
  _dlt_id: dlt's id of the row; the refill's item lines point to it (stg_refill_items._dlt_parent_id).
  _dlt_load_id: The dlt load that wrote the row last (an incremental build rebuilds the facts of new loads).
*/
SELECT
    CAST(r.id AS BIGINT) AS refill_id,
    CAST(r.kiosk__serial_number AS VARCHAR) AS kiosk_serial_number,
    CAST(r.kiosk__name AS VARCHAR) AS kiosk_name,
    timezone('UTC', CAST(r.created AS TIMESTAMPTZ)) AS created_at_utc,
    CAST(r.type AS VARCHAR) AS refill_type,
    CAST(r.operator_user_id AS BIGINT) AS operator_user_id,
    timezone('UTC', CAST(r.session_closed_at AS TIMESTAMPTZ)) AS session_closed_at_utc,
    CAST(r._dlt_id AS VARCHAR) AS _dlt_id,
    CAST(r._dlt_load_id AS VARCHAR) AS _dlt_load_id
FROM raw.refills AS r
