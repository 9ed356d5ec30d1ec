/*
description: |
  Temperature per kiosk sensor and UTC hour. Hourly buckets from the API are used as they are; hours only read at
  minutely granularity are aggregated from the minutes (average of the minute averages, rounded half-up to 0.001).
grain: one kiosk sensor per UTC hour
unique:
  - [kiosk_serial_number, sensor_position, hour_utc]
not_null: [kiosk_serial_number, sensor_position, hour_utc, date_key]
relationships:
  - kiosk_serial_number: dim_kiosk.kiosk_serial_number
  - date_key: dim_date.date_key
columns:
  kiosk_serial_number:
  sensor_position:
  hour_utc: Start of the hour, UTC.
  hour_local: Start of the hour in the kiosk's time zone.
  date_key: Kiosk-local date of the hour, yyyymmdd (dim_date).
  local_date: Kiosk-local date of the hour.
  avg_celsius: Average temperature, °C.
  min_celsius: Minimum temperature, °C.
  max_celsius: Maximum temperature, °C.
  source_granularity: Granularity the hour was built from (hourly or minutely).
*/
WITH hourly AS (
    SELECT
        kiosk_serial_number,
        sensor_position,
        date_trunc('hour', bucket_start_utc) AS hour_utc,
        avg_celsius,
        min_celsius,
        max_celsius,
        'hourly' AS source_granularity
    FROM stg_temperature
    WHERE granularity = 'hourly'
),
minutes AS (
    SELECT
        kiosk_serial_number,
        sensor_position,
        date_trunc('hour', bucket_start_utc) AS hour_utc,
        -- average in integer milli-degrees: exact and identical on both engines
        sum(CAST(round(avg_celsius * 1000, 0) AS BIGINT)) AS milli_sum,
        count(avg_celsius) AS readings,
        min(min_celsius) AS min_celsius,
        max(max_celsius) AS max_celsius
    FROM stg_temperature
    WHERE granularity = 'minutely'
    GROUP BY kiosk_serial_number, sensor_position, date_trunc('hour', bucket_start_utc)
),
from_minutes AS (
    SELECT
        m.kiosk_serial_number,
        m.sensor_position,
        m.hour_utc,
        CASE
            WHEN m.readings > 0 THEN
                CAST(
                    CASE WHEN m.milli_sum < 0 THEN -1 ELSE 1 END
                    * ((2 * abs(m.milli_sum) + m.readings) // (2 * m.readings)) AS DECIMAL(9, 3)
                ) * 0.001
        END AS avg_celsius,
        m.min_celsius,
        m.max_celsius,
        'minutely' AS source_granularity
    FROM minutes AS m
    WHERE NOT EXISTS (
        SELECT 1 FROM hourly AS h
        WHERE h.kiosk_serial_number = m.kiosk_serial_number
            AND h.sensor_position = m.sensor_position
            AND h.hour_utc = m.hour_utc
    )
),
combined AS (
    SELECT * FROM hourly
    UNION ALL
    SELECT * FROM from_minutes
),
localized AS (
    SELECT c.*, local_time(c.hour_utc, k.timezone) AS hour_local
    FROM combined AS c
    LEFT JOIN int_kiosks AS k ON k.kiosk_serial_number = c.kiosk_serial_number
)
SELECT
    l.kiosk_serial_number,
    l.sensor_position,
    l.hour_utc,
    l.hour_local,
    date_key(l.hour_local) AS date_key,
    CAST(l.hour_local AS DATE) AS local_date,
    CAST(l.avg_celsius AS DECIMAL(9, 3)) AS avg_celsius,
    CAST(l.min_celsius AS DECIMAL(9, 3)) AS min_celsius,
    CAST(l.max_celsius AS DECIMAL(9, 3)) AS max_celsius,
    l.source_granularity
FROM localized AS l
