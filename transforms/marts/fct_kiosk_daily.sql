/*
description: |
  One row per kiosk and kiosk-local day, every day from the kiosk's first fact (session, refill, snapshot or
  alert) to the sync horizon (the latest inventory snapshot, else the latest session, in the kiosk's time zone),
  quiet days included with zeros. Usual opening hours are defined from the data: a kiosk-local hour of the day
  (0-23) is one when the kiosk had at least one session in that hour on at least half of the days it had any
  session. `quiet_opening_hours` counts the usual opening hours of the day without any session, only hours that
  ended before the sync horizon (today is not quiet for hours still to come). Revenue is the gross of counted
  transactions (paid, ended with a purchase), in the kiosk's currency.
grain: one kiosk per kiosk-local day
unique:
  - [kiosk_serial_number, date_key]
not_null: [kiosk_serial_number, date_key, local_date, currency, sessions, paid_purchases, revenue_gross,
  units_sold, refills, units_refilled, stock_outs_seen, alerts_opened, usual_opening_hours, quiet_opening_hours]
relationships:
  - kiosk_serial_number: dim_kiosk.kiosk_serial_number
  - date_key: dim_date.date_key
columns:
  kiosk_serial_number: Kiosk.
  date_key: Kiosk-local day, yyyymmdd (dim_date).
  local_date: Kiosk-local day.
  currency: Currency of the money of the row (the kiosk's).
  sessions: Purchase sessions started that day (with or without purchase, paid or not).
  paid_purchases: Counted transactions - paid and ended with a purchase.
  revenue_gross: Gross of the counted transactions (their totals, after discounts).
  units_sold: Units of the counted transactions.
  refills: Refill sessions that day.
  units_refilled: Units added by the refills.
  stock_outs_seen: Load cells seen with a product and no unit in at least one inventory snapshot that day.
  alerts_opened: Alerts that started that day.
  usual_opening_hours: Usual opening hours of the kiosk (see the description) that had ended by the sync horizon.
  quiet_opening_hours: Of those, the hours without any session.
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
    SELECT k.kiosk_serial_number, k.currency, local_time(h.horizon_utc, k.timezone) AS horizon_local
    FROM dim_kiosk AS k
    CROSS JOIN horizon AS h
),
fact_days AS (
    SELECT kiosk_serial_number, local_date FROM fct_transactions
    UNION ALL
    SELECT kiosk_serial_number, local_date FROM fct_refills
    UNION ALL
    SELECT kiosk_serial_number, local_date FROM fct_inventory_snapshot
    UNION ALL
    SELECT kiosk_serial_number, local_date FROM fct_alerts
),
spans AS (
    SELECT
        k.kiosk_serial_number,
        k.currency,
        k.horizon_local,
        min(f.local_date) AS first_day,
        max(f.local_date) AS last_day
    FROM kiosks AS k
    JOIN fact_days AS f ON f.kiosk_serial_number = k.kiosk_serial_number
    GROUP BY k.kiosk_serial_number, k.currency, k.horizon_local
),
days AS (
    SELECT s.kiosk_serial_number, s.currency, s.horizon_local, d.date_key, d.date AS local_date
    FROM spans AS s
    JOIN dim_date AS d
        ON d.date >= s.first_day
        AND (d.date <= CAST(s.horizon_local AS DATE) OR d.date <= s.last_day)
),
sessions AS (
    SELECT
        kiosk_serial_number,
        date_key,
        count(*) AS sessions,
        sum(CASE WHEN is_counted THEN 1 ELSE 0 END) AS paid_purchases,
        sum(CASE WHEN is_counted THEN gross_amount ELSE 0 END) AS revenue_gross,
        sum(CASE WHEN is_counted THEN item_count ELSE 0 END) AS units_sold
    FROM fct_transactions
    GROUP BY kiosk_serial_number, date_key
),
refills AS (
    SELECT kiosk_serial_number, date_key, count(DISTINCT refill_id) AS refills, sum(quantity_added) AS units
    FROM fct_refills
    GROUP BY kiosk_serial_number, date_key
),
stock_outs AS (
    SELECT kiosk_serial_number, date_key, count(DISTINCT load_cell_id) AS cells
    FROM fct_inventory_snapshot
    WHERE is_stock_out
    GROUP BY kiosk_serial_number, date_key
),
alerts AS (
    SELECT kiosk_serial_number, date_key, count(*) AS alerts
    FROM fct_alerts
    GROUP BY kiosk_serial_number, date_key
),
session_hours AS (
    SELECT DISTINCT kiosk_serial_number, local_date, local_hour FROM fct_transactions
),
active_days AS (
    SELECT kiosk_serial_number, count(DISTINCT local_date) AS days FROM fct_transactions GROUP BY kiosk_serial_number
),
usual_hours AS (
    SELECT h.kiosk_serial_number, h.local_hour
    FROM session_hours AS h
    JOIN active_days AS a ON a.kiosk_serial_number = h.kiosk_serial_number
    GROUP BY h.kiosk_serial_number, h.local_hour, a.days
    HAVING 2 * count(*) >= a.days
),
opening AS (
    SELECT
        d.kiosk_serial_number,
        d.date_key,
        count(*) AS usual_hours,
        sum(CASE WHEN s.local_hour IS NULL THEN 1 ELSE 0 END) AS quiet_hours
    FROM days AS d
    JOIN usual_hours AS u ON u.kiosk_serial_number = d.kiosk_serial_number
    LEFT JOIN session_hours AS s
        ON s.kiosk_serial_number = d.kiosk_serial_number
        AND s.local_date = d.local_date
        AND s.local_hour = u.local_hour
    WHERE CAST(d.local_date AS TIMESTAMP) + (u.local_hour + 1) * INTERVAL 1 HOUR <= d.horizon_local
    GROUP BY d.kiosk_serial_number, d.date_key
)
SELECT
    d.kiosk_serial_number,
    d.date_key,
    d.local_date,
    d.currency,
    CAST(COALESCE(s.sessions, 0) AS INTEGER) AS sessions,
    CAST(COALESCE(s.paid_purchases, 0) AS INTEGER) AS paid_purchases,
    CAST(COALESCE(s.revenue_gross, 0) AS DECIMAL(18, 2)) AS revenue_gross,
    CAST(COALESCE(s.units_sold, 0) AS INTEGER) AS units_sold,
    CAST(COALESCE(r.refills, 0) AS INTEGER) AS refills,
    CAST(COALESCE(r.units, 0) AS INTEGER) AS units_refilled,
    CAST(COALESCE(o.cells, 0) AS INTEGER) AS stock_outs_seen,
    CAST(COALESCE(a.alerts, 0) AS INTEGER) AS alerts_opened,
    CAST(COALESCE(h.usual_hours, 0) AS INTEGER) AS usual_opening_hours,
    CAST(COALESCE(h.quiet_hours, 0) AS INTEGER) AS quiet_opening_hours
FROM days AS d
LEFT JOIN sessions AS s ON s.kiosk_serial_number = d.kiosk_serial_number AND s.date_key = d.date_key
LEFT JOIN refills AS r ON r.kiosk_serial_number = d.kiosk_serial_number AND r.date_key = d.date_key
LEFT JOIN stock_outs AS o ON o.kiosk_serial_number = d.kiosk_serial_number AND o.date_key = d.date_key
LEFT JOIN alerts AS a ON a.kiosk_serial_number = d.kiosk_serial_number AND a.date_key = d.date_key
LEFT JOIN opening AS h ON h.kiosk_serial_number = d.kiosk_serial_number AND h.date_key = d.date_key
