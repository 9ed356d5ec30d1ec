/*
description: Temperature buckets per kiosk sensor (GET /analytics/temperature/{granularity}, flattened by the source).
grain: one sensor of one kiosk per bucket of one granularity
columns:
  kiosk_serial_number: Kiosk.
  kiosk_name: Kiosk name.
  sensor_position: top, middle or bottom.
  granularity: Bucket size the row was read at (minutely, hourly, ...).
  bucket_start_utc: Bucket start, UTC.
  avg_celsius: Average temperature in the bucket, °C.
  min_celsius: Minimum temperature in the bucket, °C.
  max_celsius: Maximum temperature in the bucket, °C.
*/
SELECT
    CAST(t.kiosk_serial_number AS VARCHAR) AS kiosk_serial_number,
    CAST(t.kiosk_name AS VARCHAR) AS kiosk_name,
    CAST(t.sensor_position AS VARCHAR) AS sensor_position,
    CAST(t.granularity AS VARCHAR) AS granularity,
    timezone('UTC', CAST(t.bucket_start AS TIMESTAMPTZ)) AS bucket_start_utc,
    CAST(t.value AS DECIMAL(9, 3)) AS avg_celsius,
    CAST(t.min AS DECIMAL(9, 3)) AS min_celsius,
    CAST(t.max AS DECIMAL(9, 3)) AS max_celsius
FROM raw.temperature AS t
