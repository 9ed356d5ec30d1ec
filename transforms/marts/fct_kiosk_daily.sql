/*
description: |
  One row per kiosk and kiosk-local day, every day from the kiosk's first fact (session, refill, snapshot or
  alert) to the sync horizon (the latest inventory snapshot, else the latest session, in the kiosk's time zone),
  quiet days included with zeros. Usual opening hours are defined from the data, day by day: a kiosk-local hour
  of the day (0-23) is a usual one on a day when, of the 28 days before it, the kiosk had a session in that hour
  on at least half of the days it had any session (none on a kiosk's first day; opening hours that change are
  followed within weeks). `quiet_opening_hours` counts the usual opening hours of the day without any session,
  only hours that ended before the sync horizon (today is not quiet for hours still to come). Revenue is the
  gross of counted transactions (paid, ended with a purchase), in the kiosk's currency.
grain: one kiosk per kiosk-local day
unique:
  - [kiosk_serial_number, date_key]
not_null: [kiosk_serial_number, date_key, local_date, currency, sessions, paid_purchases, revenue_gross,
  units_sold, refills, units_refilled, stock_outs_seen, alerts_opened, usual_opening_hours, quiet_opening_hours,
  is_complete_day]
relationships:
  - kiosk_serial_number: dim_kiosk.kiosk_serial_number
  - date_key: dim_date.date_key
incremental:
  key: [kiosk_serial_number, date_key]
  # The days whose figures can differ from the stored ones: the days of the sessions and refills rebuilt (a
  # day's sessions also set the usual hours of the 28 days after it), the days whose stock-outs or alerts
  # differ (those facts are rebuilt in full), the days a moved first or last day adds or removes, the days
  # not complete at the previous build (the horizon moved), and every day of a kiosk whose time zone or
  # currency changed.
  changed: |
    WITH changed_kiosks AS (
        SELECT kiosk_serial_number FROM changed_keys(dim_kiosk, kiosk_serial_number, timezone, currency) AS k
    ),
    stored AS (
        SELECT kiosk_serial_number, date_key, local_date, stock_outs_seen, alerts_opened, is_complete_day
        FROM fct_kiosk_daily
    ),
    session_days AS (
        SELECT kiosk_serial_number, local_date FROM rebuilt_fct_transactions
        UNION
        SELECT kiosk_serial_number, local_date FROM replaced_fct_transactions
    ),
    refill_days AS (
        SELECT kiosk_serial_number, local_date FROM rebuilt_fct_refills
        UNION
        SELECT kiosk_serial_number, local_date FROM replaced_fct_refills
    ),
    stock_out_days AS (
        SELECT
            kiosk_serial_number,
            date_key,
            local_date,
            count(DISTINCT CASE WHEN is_stock_out THEN load_cell_id END) AS cells
        FROM fct_inventory_snapshot
        GROUP BY kiosk_serial_number, date_key, local_date
    ),
    alert_days AS (
        SELECT kiosk_serial_number, date_key, local_date, count(*) AS alerts
        FROM fct_alerts
        GROUP BY kiosk_serial_number, date_key, local_date
    ),
    day_figures AS (
        -- the stock-outs and alerts of every day with a snapshot or an alert, as a rebuild would count them
        SELECT kiosk_serial_number, date_key, local_date, max(cells) AS stock_outs, max(alerts) AS alerts
        FROM (
            SELECT kiosk_serial_number, date_key, local_date, cells, 0 AS alerts FROM stock_out_days
            UNION ALL
            SELECT kiosk_serial_number, date_key, local_date, 0, alerts FROM alert_days
        ) AS f
        GROUP BY kiosk_serial_number, date_key, local_date
    ),
    stored_figures AS (
        SELECT kiosk_serial_number, date_key, local_date, stock_outs_seen, alerts_opened FROM stored
    ),
    differing_days AS (
        SELECT kiosk_serial_number, local_date FROM (
            SELECT * FROM day_figures EXCEPT SELECT * FROM stored_figures
        ) AS new_figures
        UNION
        -- a stored day that had some and now has none (a day without either stores zeros)
        SELECT kiosk_serial_number, local_date FROM (
            SELECT * FROM stored_figures WHERE stock_outs_seen > 0 OR alerts_opened > 0
            EXCEPT
            SELECT * FROM day_figures
        ) AS old_figures
    ),
    stored_spans AS (
        SELECT kiosk_serial_number, min(local_date) AS first_day, max(local_date) AS end_day
        FROM stored
        GROUP BY kiosk_serial_number
    ),
    span_days AS (
        -- between the old and the new first day, and between the old and the new last day
        SELECT s.kiosk_serial_number, d.date AS local_date
        FROM int_kiosk_spans AS s
        JOIN stored_spans AS o ON o.kiosk_serial_number = s.kiosk_serial_number
        JOIN dim_date AS d
            ON (d.date >= least(s.first_day, o.first_day) AND d.date <= greatest(s.first_day, o.first_day))
            OR (d.date >= least(s.end_day, o.end_day) AND d.date <= greatest(s.end_day, o.end_day))
        UNION
        SELECT s.kiosk_serial_number, d.date
        FROM int_kiosk_spans AS s
        JOIN dim_date AS d ON d.date >= s.first_day AND d.date <= s.end_day
        WHERE s.kiosk_serial_number NOT IN (SELECT kiosk_serial_number FROM stored_spans)
    ),
    days AS (
        SELECT kiosk_serial_number, local_date FROM session_days
        UNION
        SELECT s.kiosk_serial_number, CAST(s.local_date + w.n * INTERVAL 1 DAY AS DATE)
        FROM session_days AS s
        JOIN int_kiosk_spans AS k ON k.kiosk_serial_number = s.kiosk_serial_number
        CROSS JOIN generate_series(1, 28) AS w(n)
        WHERE s.local_date + w.n * INTERVAL 1 DAY <= k.end_day
        UNION
        SELECT kiosk_serial_number, local_date FROM refill_days
        UNION
        SELECT kiosk_serial_number, local_date FROM differing_days
        UNION
        SELECT kiosk_serial_number, local_date FROM span_days
        UNION
        -- the horizon moved: the days it had not passed, and those it no longer passes
        SELECT o.kiosk_serial_number, o.local_date
        FROM stored AS o
        JOIN int_kiosk_spans AS s ON s.kiosk_serial_number = o.kiosk_serial_number
        WHERE NOT o.is_complete_day OR o.local_date >= CAST(s.horizon_local AS DATE)
        UNION
        SELECT kiosk_serial_number, local_date FROM stored
        WHERE kiosk_serial_number IN (SELECT kiosk_serial_number FROM changed_kiosks)
        UNION
        SELECT c.kiosk_serial_number, d.date FROM changed_kiosks AS c CROSS JOIN dim_date AS d
    )
    SELECT kiosk_serial_number, date_key(local_date) AS date_key, local_date FROM days
  history: [transactions, refills, kiosk_inventory, alerts]
indexes:
  kiosk_inventory: [_dlt_load_id]
  alerts: [_dlt_load_id]
  fct_transactions: [kiosk_serial_number, local_date]
  fct_refills: [kiosk_serial_number, local_date]
  fct_inventory_snapshot: [kiosk_serial_number, local_date]
  fct_alerts: [kiosk_serial_number, local_date]
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
  is_complete_day: The whole day lies before the sync horizon, so every usual hour of it counts; false for the
    horizon's own day (today) and any later day with a fact.
*/
WITH days AS (
    SELECT s.kiosk_serial_number, s.currency, s.horizon_local, d.date_key, d.date AS local_date
    FROM int_kiosk_spans AS s
    JOIN dim_date AS d ON d.date >= s.first_day AND d.date <= s.end_day
    WHERE changed_days(s.kiosk_serial_number, d.date, 0)
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
    WHERE changed_days(kiosk_serial_number, local_date, 0)
    GROUP BY kiosk_serial_number, date_key
),
refills AS (
    SELECT kiosk_serial_number, date_key, count(DISTINCT refill_id) AS refills, sum(quantity_added) AS units
    FROM fct_refills
    WHERE changed_days(kiosk_serial_number, local_date, 0)
    GROUP BY kiosk_serial_number, date_key
),
stock_outs AS (
    SELECT kiosk_serial_number, date_key, count(DISTINCT load_cell_id) AS cells
    FROM fct_inventory_snapshot
    WHERE is_stock_out AND changed_days(kiosk_serial_number, local_date, 0)
    GROUP BY kiosk_serial_number, date_key
),
alerts AS (
    SELECT kiosk_serial_number, date_key, count(*) AS alerts
    FROM fct_alerts
    WHERE changed_days(kiosk_serial_number, local_date, 0)
    GROUP BY kiosk_serial_number, date_key
),
-- the hours with a session of the days built and of the 28 days before each
session_hours AS (
    SELECT DISTINCT kiosk_serial_number, local_date, local_hour
    FROM fct_transactions
    WHERE changed_days(kiosk_serial_number, local_date, 28)
),
-- the days built and the days counted (with a session), then per hour of the day the kiosk had sessions in:
-- how many of the 28 days before each had a session, overall and in that hour (both in one pass over the
-- same rows: joins of such intermediate results are where the planner's guesses go wrong)
calendar AS (
    SELECT
        kiosk_serial_number,
        local_date,
        local_date - DATE '2000-01-01' AS day_number,
        max(is_built) AS is_built,
        max(had_session) AS had_session,
        max(horizon_local) AS horizon_local
    FROM (
        SELECT kiosk_serial_number, local_date, 1 AS is_built, 0 AS had_session, horizon_local FROM days
        UNION ALL
        SELECT kiosk_serial_number, local_date, 0, 1, CAST(NULL AS TIMESTAMP) FROM session_hours
    ) AS c
    GROUP BY kiosk_serial_number, local_date
),
hour_days AS (
    SELECT
        c.kiosk_serial_number,
        c.local_date,
        c.is_built,
        c.horizon_local,
        h.local_hour,
        CASE WHEN s.local_hour IS NULL THEN 0 ELSE 1 END AS had_session_in_hour,
        sum(CASE WHEN s.local_hour IS NULL THEN 0 ELSE 1 END) OVER (
            PARTITION BY c.kiosk_serial_number, h.local_hour
            ORDER BY c.day_number
            RANGE BETWEEN 28 PRECEDING AND 1 PRECEDING
        ) AS days_with_hour,
        sum(c.had_session) OVER (
            PARTITION BY c.kiosk_serial_number, h.local_hour
            ORDER BY c.day_number
            RANGE BETWEEN 28 PRECEDING AND 1 PRECEDING
        ) AS days_with_session
    FROM calendar AS c
    JOIN (SELECT DISTINCT kiosk_serial_number, local_hour FROM session_hours) AS h
        ON h.kiosk_serial_number = c.kiosk_serial_number
    LEFT JOIN session_hours AS s
        ON s.kiosk_serial_number = c.kiosk_serial_number
        AND s.local_date = c.local_date
        AND s.local_hour = h.local_hour
),
-- the usual hours of each day built that had ended by the horizon, and those without a session
opening AS (
    SELECT
        kiosk_serial_number,
        local_date,
        count(*) AS usual_hours,
        sum(1 - had_session_in_hour) AS quiet_hours
    FROM hour_days
    WHERE is_built = 1
        AND days_with_hour > 0
        AND 2 * days_with_hour >= days_with_session
        AND CAST(local_date AS TIMESTAMP) + (local_hour + 1) * INTERVAL 1 HOUR <= horizon_local
    GROUP BY kiosk_serial_number, local_date
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
    CAST(COALESCE(h.quiet_hours, 0) AS INTEGER) AS quiet_opening_hours,
    COALESCE(CAST(d.local_date AS TIMESTAMP) + INTERVAL 1 DAY <= d.horizon_local, FALSE) AS is_complete_day
FROM days AS d
LEFT JOIN sessions AS s ON s.kiosk_serial_number = d.kiosk_serial_number AND s.date_key = d.date_key
LEFT JOIN refills AS r ON r.kiosk_serial_number = d.kiosk_serial_number AND r.date_key = d.date_key
LEFT JOIN stock_outs AS o ON o.kiosk_serial_number = d.kiosk_serial_number AND o.date_key = d.date_key
LEFT JOIN alerts AS a ON a.kiosk_serial_number = d.kiosk_serial_number AND a.date_key = d.date_key
LEFT JOIN opening AS h ON h.kiosk_serial_number = d.kiosk_serial_number AND h.local_date = d.local_date
