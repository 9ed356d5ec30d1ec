/*
description: Calendar of kiosk-local days, whole calendar years covering every date of every fact.
grain: one calendar day
unique:
  - date_key
not_null: [date_key, date, year, quarter, month, iso_week, day_of_week, is_weekend]
columns:
  date_key: yyyymmdd as an integer; facts' date_key points here.
  date: The day.
  year: Calendar year.
  quarter: Quarter 1-4.
  month: Month 1-12.
  day_of_month: Day of the month 1-31.
  iso_year: ISO 8601 week-numbering year (differs from year around New Year).
  iso_week: ISO 8601 week number 1-53 (weeks start on Monday, like the vendor's weekly buckets).
  week_start: Monday of the ISO week.
  day_of_week: ISO day of week, 1 = Monday ... 7 = Sunday.
  day_name: English day name.
  is_weekend: Saturday or Sunday.
*/
WITH RECURSIVE fact_dates AS (
    SELECT min(local_date) AS first_day, max(local_date) AS last_day FROM fct_transactions
    UNION ALL
    SELECT min(local_date), max(local_date) FROM fct_refills
    UNION ALL
    SELECT min(local_date), max(local_date) FROM fct_inventory_snapshot
    UNION ALL
    SELECT min(local_date), max(local_date) FROM fct_temperature_hourly
    UNION ALL
    SELECT min(local_date), max(local_date) FROM fct_alerts
),
bounds AS (
    SELECT
        CAST(CAST(EXTRACT(YEAR FROM min(first_day)) AS INTEGER) || '-01-01' AS DATE) AS first_day,
        CAST(CAST(EXTRACT(YEAR FROM max(last_day)) AS INTEGER) || '-12-31' AS DATE) AS last_day
    FROM fact_dates
),
days (day) AS (
    SELECT first_day FROM bounds WHERE first_day IS NOT NULL
    UNION ALL
    SELECT CAST(days.day + INTERVAL 1 DAY AS DATE) FROM days, bounds WHERE days.day < bounds.last_day
)
SELECT
    date_key(day) AS date_key,
    day AS date,
    CAST(EXTRACT(YEAR FROM day) AS INTEGER) AS year,
    CAST(EXTRACT(QUARTER FROM day) AS INTEGER) AS quarter,
    CAST(EXTRACT(MONTH FROM day) AS INTEGER) AS month,
    CAST(EXTRACT(DAY FROM day) AS INTEGER) AS day_of_month,
    CAST(EXTRACT(ISOYEAR FROM day) AS INTEGER) AS iso_year,
    CAST(EXTRACT(WEEK FROM day) AS INTEGER) AS iso_week,
    CAST(day - CAST(EXTRACT(ISODOW FROM day) AS INTEGER) + 1 AS DATE) AS week_start,
    CAST(EXTRACT(ISODOW FROM day) AS INTEGER) AS day_of_week,
    CASE CAST(EXTRACT(ISODOW FROM day) AS INTEGER)
        WHEN 1 THEN 'Monday' WHEN 2 THEN 'Tuesday' WHEN 3 THEN 'Wednesday' WHEN 4 THEN 'Thursday'
        WHEN 5 THEN 'Friday' WHEN 6 THEN 'Saturday' ELSE 'Sunday'
    END AS day_name,
    (CAST(EXTRACT(ISODOW FROM day) AS INTEGER) >= 6) AS is_weekend
FROM days
