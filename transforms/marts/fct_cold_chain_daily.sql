/*
description: |
  Cold chain per kiosk sensor and kiosk-local day, from the finest temperature granularity synced: minutely
  buckets where the hour was read minutely, else the hourly bucket (the choice of fct_temperature_hourly). A
  bucket is above the limit when its average is above `threshold_celsius` (setting
  sources.livello.cold_chain_max_celsius, default 7 °C); it counts with its whole length (1 or 60 minutes). An
  excursion is a run of consecutive buckets above the limit (each starting where the previous one ended) within
  the local day: one spanning midnight counts in each day with its part. A day breaches the rule when its longest
  excursion lasts longer than `breach_after_minutes` (setting sources.livello.cold_chain_breach_minutes, default
  30).
grain: one kiosk sensor per kiosk-local day
unique:
  - [kiosk_serial_number, sensor_position, date_key]
not_null: [kiosk_serial_number, sensor_position, date_key, local_date, threshold_celsius, minutes_measured,
  minutes_above_threshold, longest_excursion_minutes, is_breach, breach_after_minutes, source_granularity]
relationships:
  - kiosk_serial_number: dim_kiosk.kiosk_serial_number
  - date_key: dim_date.date_key
columns:
  kiosk_serial_number:
  sensor_position:
  date_key: Kiosk-local day, yyyymmdd (dim_date).
  local_date: Kiosk-local day.
  threshold_celsius: The limit the day is measured against, °C (setting cold_chain_max_celsius).
  minutes_measured: Minutes covered by temperature buckets that day (1 per minutely bucket, 60 per hourly one).
  minutes_above_threshold: Minutes of buckets whose average was above the limit.
  longest_excursion_minutes: Longest run of consecutive buckets above the limit that day, in minutes (0 if none).
  max_celsius: Hottest reading of the day, °C.
  is_breach: The longest excursion lasted longer than breach_after_minutes - the day needs a cold-chain report.
  breach_after_minutes: The breach rule's length, minutes (setting cold_chain_breach_minutes).
  source_granularity: minutely, hourly or mixed - what the day was built from.
*/
WITH hourly AS (
    SELECT kiosk_serial_number, sensor_position, bucket_start_utc, avg_celsius, max_celsius
    FROM stg_temperature
    WHERE granularity = 'hourly'
),
minutely AS (
    SELECT kiosk_serial_number, sensor_position, bucket_start_utc, avg_celsius, max_celsius
    FROM stg_temperature
    WHERE granularity = 'minutely'
),
minute_hours AS (
    SELECT DISTINCT kiosk_serial_number, sensor_position, date_trunc('hour', bucket_start_utc) AS hour_utc
    FROM minutely
),
buckets AS (
    SELECT m.*, 1 AS bucket_minutes, 'minutely' AS granularity FROM minutely AS m
    UNION ALL
    SELECT h.*, 60 AS bucket_minutes, 'hourly' AS granularity
    FROM hourly AS h
    WHERE NOT EXISTS (
        SELECT 1 FROM minute_hours AS m
        WHERE m.kiosk_serial_number = h.kiosk_serial_number
            AND m.sensor_position = h.sensor_position
            AND m.hour_utc = date_trunc('hour', h.bucket_start_utc)
    )
),
localized AS (
    SELECT
        b.kiosk_serial_number,
        b.sensor_position,
        b.bucket_start_utc,
        b.bucket_minutes,
        b.granularity,
        b.avg_celsius,
        b.max_celsius,
        local_time(b.bucket_start_utc, k.timezone) AS bucket_start_local
    FROM buckets AS b
    LEFT JOIN int_kiosks AS k ON k.kiosk_serial_number = b.kiosk_serial_number
),
flagged AS (
    SELECT
        l.*,
        CAST(l.bucket_start_local AS DATE) AS local_date,
        (l.avg_celsius > setting('cold_chain_max_celsius')) AS is_above
    FROM localized AS l
),
-- gaps and islands: among the buckets above the limit of one sensor and day, a new excursion starts where
-- a bucket does not begin at the end of the previous one
above AS (
    SELECT
        f.kiosk_serial_number,
        f.sensor_position,
        f.local_date,
        f.bucket_start_utc,
        f.bucket_minutes,
        CASE
            WHEN lag(f.bucket_start_utc + f.bucket_minutes * INTERVAL 1 MINUTE) OVER (
                PARTITION BY f.kiosk_serial_number, f.sensor_position, f.local_date ORDER BY f.bucket_start_utc
            ) = f.bucket_start_utc THEN 0
            ELSE 1
        END AS starts_excursion
    FROM flagged AS f
    WHERE f.is_above
),
numbered AS (
    SELECT
        a.*,
        sum(a.starts_excursion) OVER (
            PARTITION BY a.kiosk_serial_number, a.sensor_position, a.local_date ORDER BY a.bucket_start_utc
            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
        ) AS excursion_number
    FROM above AS a
),
excursions AS (
    SELECT kiosk_serial_number, sensor_position, local_date, excursion_number, sum(bucket_minutes) AS minutes
    FROM numbered
    GROUP BY kiosk_serial_number, sensor_position, local_date, excursion_number
),
longest AS (
    SELECT kiosk_serial_number, sensor_position, local_date, max(minutes) AS longest_minutes
    FROM excursions
    GROUP BY kiosk_serial_number, sensor_position, local_date
),
days AS (
    SELECT
        kiosk_serial_number,
        sensor_position,
        local_date,
        sum(bucket_minutes) AS minutes_measured,
        sum(CASE WHEN is_above THEN bucket_minutes ELSE 0 END) AS minutes_above,
        max(max_celsius) AS max_celsius,
        min(granularity) AS first_granularity,
        max(granularity) AS last_granularity
    FROM flagged
    WHERE local_date IS NOT NULL
    GROUP BY kiosk_serial_number, sensor_position, local_date
)
SELECT
    d.kiosk_serial_number,
    d.sensor_position,
    date_key(d.local_date) AS date_key,
    d.local_date,
    CAST(setting('cold_chain_max_celsius') AS DECIMAL(9, 3)) AS threshold_celsius,
    CAST(d.minutes_measured AS INTEGER) AS minutes_measured,
    CAST(d.minutes_above AS INTEGER) AS minutes_above_threshold,
    CAST(COALESCE(l.longest_minutes, 0) AS INTEGER) AS longest_excursion_minutes,
    CAST(d.max_celsius AS DECIMAL(9, 3)) AS max_celsius,
    (COALESCE(l.longest_minutes, 0) > setting('cold_chain_breach_minutes')) AS is_breach,
    CAST(setting('cold_chain_breach_minutes') AS INTEGER) AS breach_after_minutes,
    CASE WHEN d.first_granularity = d.last_granularity THEN d.first_granularity ELSE 'mixed' END
        AS source_granularity
FROM days AS d
LEFT JOIN longest AS l
    ON l.kiosk_serial_number = d.kiosk_serial_number
    AND l.sensor_position = d.sensor_position
    AND l.local_date = d.local_date
