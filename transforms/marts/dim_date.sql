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
-- the years of the facts: from the yyyymmdd keys, whose least and greatest PostgreSQL reads off the facts'
-- date_key indexes
WITH fact_keys AS (
    SELECT min(date_key) AS first_key, max(date_key) AS last_key FROM fct_transactions
    UNION ALL
    SELECT min(date_key), max(date_key) FROM fct_refills
    UNION ALL
    SELECT min(date_key), max(date_key) FROM fct_inventory_snapshot
    UNION ALL
    SELECT min(date_key), max(date_key) FROM fct_temperature_hourly
    UNION ALL
    SELECT min(date_key), max(date_key) FROM fct_alerts
),
bounds AS (
    SELECT
        CAST(CAST(min(first_key) // 10000 AS INTEGER) || '-01-01' AS DATE) AS first_day,
        CAST(CAST(max(last_key) // 10000 AS INTEGER) || '-12-31' AS DATE) AS last_day
    FROM fact_keys
),
-- a series, not a recursive CTE: DuckDB runs one step of the recursion per day (0.1 s for three years)
days AS (
    SELECT CAST(b.first_day + n.n * INTERVAL 1 DAY AS DATE) AS day
    FROM bounds AS b
    CROSS JOIN generate_series(0, 366 * 200) AS n(n)
    WHERE b.first_day + n.n * INTERVAL 1 DAY <= b.last_day
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
