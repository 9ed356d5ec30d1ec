/*
description: |
  The span of days fct_kiosk_daily holds for each kiosk: from its first fact (session, refill, inventory
  snapshot or alert) to the sync horizon (the latest inventory snapshot, else the latest session) in the
  kiosk's time zone, or to its last fact when that is later. Each first and last day is one index probe per
  kiosk and fact on PostgreSQL (a scan of two columns on DuckDB), not an aggregate over the facts' history:
  fct_kiosk_daily and the query that finds its changed days both read it every build.
grain: one kiosk
unique:
  - kiosk_serial_number
columns:
  kiosk_serial_number: Kiosk.
  currency: The kiosk's currency.
  horizon_utc: The sync horizon, UTC (the same for every kiosk).
  horizon_local: The sync horizon in the kiosk's time zone.
  first_day: Kiosk-local day of the kiosk's first fact; null without any.
  end_day: The later of the horizon's kiosk-local day and the day of the kiosk's last fact.
*/
WITH horizon AS (
    SELECT
        CASE
            WHEN max(s.snapshot_at_utc) IS NOT NULL THEN max(s.snapshot_at_utc)
            ELSE (SELECT max(t.created_at_utc) FROM fct_transactions AS t)
        END AS horizon_utc
    FROM fct_inventory_snapshot AS s
),
kiosks AS (
    SELECT
        k.kiosk_serial_number,
        k.currency,
        h.horizon_utc,
        local_time(h.horizon_utc, k.timezone) AS horizon_local
    FROM dim_kiosk AS k
    CROSS JOIN horizon AS h
),
facts AS (
    SELECT
        k.*,
        (SELECT min(f.local_date) FROM fct_transactions AS f WHERE f.kiosk_serial_number = k.kiosk_serial_number)
            AS first_session,
        (SELECT max(f.local_date) FROM fct_transactions AS f WHERE f.kiosk_serial_number = k.kiosk_serial_number)
            AS last_session,
        (SELECT min(f.local_date) FROM fct_refills AS f WHERE f.kiosk_serial_number = k.kiosk_serial_number)
            AS first_refill,
        (SELECT max(f.local_date) FROM fct_refills AS f WHERE f.kiosk_serial_number = k.kiosk_serial_number)
            AS last_refill,
        (
            SELECT min(f.local_date) FROM fct_inventory_snapshot AS f
            WHERE f.kiosk_serial_number = k.kiosk_serial_number
        ) AS first_snapshot,
        (
            SELECT max(f.local_date) FROM fct_inventory_snapshot AS f
            WHERE f.kiosk_serial_number = k.kiosk_serial_number
        ) AS last_snapshot,
        (SELECT min(f.local_date) FROM fct_alerts AS f WHERE f.kiosk_serial_number = k.kiosk_serial_number)
            AS first_alert,
        (SELECT max(f.local_date) FROM fct_alerts AS f WHERE f.kiosk_serial_number = k.kiosk_serial_number)
            AS last_alert
    FROM kiosks AS k
)
SELECT
    kiosk_serial_number,
    currency,
    horizon_utc,
    horizon_local,
    least(first_session, first_refill, first_snapshot, first_alert) AS first_day,
    greatest(CAST(horizon_local AS DATE), last_session, last_refill, last_snapshot, last_alert) AS end_day
FROM facts
