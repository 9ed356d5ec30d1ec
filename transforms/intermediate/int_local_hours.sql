/*
description: |
  The UTC offset of every hour of every UTC year in which a kiosk of the time zone has an event, at the start
  and at the end of the hour: each (zone, hour) is converted once instead of each row. The `local_time(ts_utc,
  tz)` macro (transforms/macros.py) joins it: within an hour whose two offsets agree, local time is UTC plus that
  offset; an hour holding a daylight-saving transition (offsets differ) is converted row by row, exactly. Whole
  years rather than the hours with an event: a source's years are a cheap aggregate with few groups, its
  distinct hours a large one (a third slower on PostgreSQL at 1M sales lines). A timestamp whose year is missing
  here still gets its exact local time, only slower: list every fact's event times below.
grain: one time zone x UTC hour
unique:
  - [timezone, hour_utc]
columns:
  timezone: IANA time zone of at least one kiosk.
  hour_utc: Start of the UTC hour.
  offset_at_start: Local minus UTC time at the start of the hour (an interval).
  offset_at_end: Local minus UTC time at the end of the hour (the start of the next).
*/
WITH event_years AS (
    SELECT kiosk_serial_number, date_trunc('year', created_at_utc) AS year_utc
    FROM stg_transactions GROUP BY 1, 2
    UNION
    SELECT kiosk_serial_number, date_trunc('year', created_at_utc) FROM stg_refills GROUP BY 1, 2
    UNION
    SELECT kiosk_serial_number, date_trunc('year', snapshot_at_utc) FROM stg_kiosk_inventory GROUP BY 1, 2
    UNION
    SELECT kiosk_serial_number, date_trunc('year', bucket_start_utc) FROM stg_temperature GROUP BY 1, 2
    UNION
    SELECT kiosk_serial_number, date_trunc('year', started_at_utc) FROM stg_alerts GROUP BY 1, 2
),
zone_years AS (
    SELECT DISTINCT k.timezone, e.year_utc
    FROM event_years AS e
    JOIN int_kiosks AS k ON k.kiosk_serial_number = e.kiosk_serial_number
    WHERE k.timezone IS NOT NULL AND e.year_utc IS NOT NULL
),
zone_hours AS (
    SELECT z.timezone, z.year_utc + h.n * INTERVAL 1 HOUR AS hour_utc
    FROM zone_years AS z
    CROSS JOIN generate_series(0, 366 * 24 - 1) AS h(n)
    WHERE z.year_utc + h.n * INTERVAL 1 HOUR < z.year_utc + INTERVAL 1 YEAR
)
SELECT
    timezone,
    hour_utc,
    timezone(timezone, timezone('UTC', hour_utc)) - hour_utc AS offset_at_start,
    timezone(timezone, timezone('UTC', hour_utc + INTERVAL 1 HOUR)) - (hour_utc + INTERVAL 1 HOUR) AS offset_at_end
FROM zone_hours
