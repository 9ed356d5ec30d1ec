/*
description: |
  The UTC offset of every UTC day of every year from the first to the last event of the sources, in each time
  zone of a kiosk, at the start and at the end of the day: each (zone, day) is converted once instead of each
  row. The `local_time(ts_utc, tz)` macro (transforms/macros.py) joins it: within a day whose two offsets
  agree, local time is UTC plus that offset; a day holding a daylight-saving transition (offsets differ, two
  days a year) is converted row by row, exactly. Whole years between the first and the last event: the
  earliest and latest time of a source are the cheapest aggregate there is (no groups), and a zone-year is
  366 rows (hours would be 8,784 conversions, a third of a second per three years and zones). A timestamp
  whose year is missing here still gets its exact local time, only slower: list every fact's event times
  below.
grain: one time zone x UTC day
unique:
  - [timezone, day_utc]
columns:
  timezone: IANA time zone of at least one kiosk.
  day_utc: Start of the UTC day.
  offset_at_start: Local minus UTC time at the start of the day (an interval).
  offset_at_end: Local minus UTC time at the end of the day (the start of the next).
*/
WITH event_bounds AS (
    SELECT min(created_at_utc) AS first_at, max(created_at_utc) AS last_at FROM stg_transactions
    UNION ALL
    SELECT min(created_at_utc), max(created_at_utc) FROM stg_refills
    UNION ALL
    SELECT min(snapshot_at_utc), max(snapshot_at_utc) FROM stg_kiosk_inventory
    UNION ALL
    SELECT min(bucket_start_utc), max(bucket_start_utc) FROM stg_temperature
    UNION ALL
    SELECT min(started_at_utc), max(started_at_utc) FROM stg_alerts
),
years AS (
    SELECT date_trunc('year', min(first_at)) AS first_year, date_trunc('year', max(last_at)) AS last_year
    FROM event_bounds
),
zone_years AS (
    SELECT z.timezone, y.first_year + n.n * INTERVAL 1 YEAR AS year_utc
    FROM (SELECT DISTINCT timezone FROM int_kiosks WHERE timezone IS NOT NULL) AS z
    CROSS JOIN years AS y
    CROSS JOIN generate_series(0, 199) AS n(n)
    WHERE y.first_year + n.n * INTERVAL 1 YEAR <= y.last_year
),
zone_days AS (
    SELECT z.timezone, z.year_utc + d.n * INTERVAL 1 DAY AS day_utc
    FROM zone_years AS z
    CROSS JOIN generate_series(0, 365) AS d(n)
    WHERE z.year_utc + d.n * INTERVAL 1 DAY < z.year_utc + INTERVAL 1 YEAR
)
SELECT
    timezone,
    day_utc,
    timezone(timezone, timezone('UTC', day_utc)) - day_utc AS offset_at_start,
    timezone(timezone, timezone('UTC', day_utc + INTERVAL 1 DAY)) - (day_utc + INTERVAL 1 DAY) AS offset_at_end
FROM zone_days
