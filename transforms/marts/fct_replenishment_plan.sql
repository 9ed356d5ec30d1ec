/*
description: |
  What to bring on the next visit, per load cell of each kiosk at its latest inventory snapshot. The next planned
  visit is the kiosk-local day after the snapshot (the plan of tomorrow's route). Demand is weekday-aware: the
  average units of the cell's product line sold (counted sales) per kiosk-local day on the days of the 28 days
  before the snapshot's day that fall on the visit's weekday, counting only days since the kiosk's first session
  in the warehouse; with no such day yet, the average over every day of that history; a product line on several
  cells of a kiosk splits its demand evenly. Days of cover = on hand / demand; the predicted stock-out date is the
  snapshot's day plus the whole days of cover (null without demand). Units expiring by the visit (expiry date on
  or before it) follow the refills' expiry dates, first in first out (the units on hand are the latest added);
  0 for an empty cell; null when the cell states no expiry date, or states one by the visit but its refills are
  not synced. The
  suggested refill fills the cell to capacity after removing the expiring units, never beyond; its cost and
  sales value are at the line's unit cost and gross price, rounded half-up to the cent.
grain: one load cell of one kiosk at the kiosk's latest inventory snapshot
unique:
  - [kiosk_serial_number, load_cell_id]
not_null: [kiosk_serial_number, load_cell_id, snapshot_at_utc, date_key, local_date, next_visit_date,
  quantity_on_hand, avg_units_sold_per_day, demand_basis, suggested_refill_quantity, suggested_refill_cost,
  suggested_refill_sales_value, currency]
relationships:
  - kiosk_serial_number: dim_kiosk.kiosk_serial_number
  - product_key: dim_product.product_key
  - date_key: dim_date.date_key
# the 28 days of sales before each kiosk's snapshot, not the whole history (PostgreSQL)
indexes:
  fct_sales: [kiosk_serial_number, date_key]
columns:
  kiosk_serial_number: Kiosk.
  load_cell_id: Load cell id.
  planogram_position: Load cell position (e.g. A11).
  snapshot_at_utc: The kiosk's latest inventory snapshot, UTC.
  snapshot_at_local: That time in the kiosk's time zone.
  date_key: Kiosk-local date of the snapshot, yyyymmdd (dim_date).
  local_date: Kiosk-local date of the snapshot.
  next_visit_date: Kiosk-local date of the next planned visit (the day after the snapshot).
  product_key: Product version on the cell at the snapshot (dim_product); null for an empty cell.
  product_meta_id: Product (meta) on the cell; null for an empty cell.
  product_line_id: Product line on the cell; null for an empty cell.
  product_name: Product name.
  quantity_on_hand: Units available at the snapshot.
  capacity: Capacity of the cell in units; null for an empty cell.
  avg_units_sold_per_day: Average units sold per kiosk-local day (weekday-aware, see the description), 3 decimals.
  demand_basis: weekday (the visit's weekday), all days (no such weekday in the history yet) or none (no history).
  demand_days: Days the average is taken over.
  days_of_cover: quantity_on_hand / avg_units_sold_per_day, 2 decimals; null without demand.
  predicted_stock_out_date: Kiosk-local day the cell is predicted to run empty; null without demand.
  next_expiration_date: Earliest expiry date of the units in the cell, as the kiosk states it.
  units_expiring_before_next_visit: Units on hand expiring on or before the next visit; null where the data gives no expiry.
  suggested_refill_quantity: Units to add at the next visit, to capacity and never beyond (0 for an empty cell).
  unit_cost: Unit cost of the line.
  unit_price: Unit gross price of the line.
  suggested_refill_cost: round(suggested units x unit cost, 2).
  suggested_refill_sales_value: round(suggested units x unit price, 2), gross.
  currency: Currency of every amount of the row (the kiosk's).
*/
WITH latest AS (
    SELECT kiosk_serial_number, max(snapshot_at_utc) AS snapshot_at_utc
    FROM fct_inventory_snapshot
    GROUP BY kiosk_serial_number
),
cells AS (
    SELECT s.*, CAST(s.local_date + INTERVAL 1 DAY AS DATE) AS next_visit_date
    FROM fct_inventory_snapshot AS s
    JOIN latest AS l ON l.kiosk_serial_number = s.kiosk_serial_number AND l.snapshot_at_utc = s.snapshot_at_utc
),
kiosk_days AS (
    SELECT
        c.kiosk_serial_number,
        c.local_date,
        c.next_visit_date,
        f.first_day
    FROM (SELECT DISTINCT kiosk_serial_number, local_date, next_visit_date FROM cells) AS c
    -- the kiosk-days, not every session of the history
    LEFT JOIN (
        SELECT kiosk_serial_number, min(local_date) AS first_day
        FROM fct_kiosk_daily
        WHERE sessions > 0
        GROUP BY kiosk_serial_number
    ) AS f ON f.kiosk_serial_number = c.kiosk_serial_number
),
-- the days demand is averaged over: the 28 before the snapshot's day since the kiosk's first session, all of
-- them and those on the visit's weekday
history AS (
    SELECT
        k.kiosk_serial_number,
        d.date_key,
        (d.day_of_week = CAST(EXTRACT(ISODOW FROM k.next_visit_date) AS INTEGER)) AS is_visit_weekday
    FROM kiosk_days AS k
    JOIN dim_date AS d
        ON d.date >= CAST(k.local_date - INTERVAL 28 DAY AS DATE)
        AND d.date < k.local_date
        AND d.date >= k.first_day
),
history_days AS (
    SELECT
        kiosk_serial_number,
        count(*) AS all_days,
        sum(CASE WHEN is_visit_weekday THEN 1 ELSE 0 END) AS weekday_days
    FROM history
    GROUP BY kiosk_serial_number
),
line_sales AS (
    SELECT
        h.kiosk_serial_number,
        s.product_line_id,
        sum(s.units) AS all_units,
        sum(CASE WHEN h.is_visit_weekday THEN s.units ELSE 0 END) AS weekday_units
    FROM history AS h
    -- each kiosk-day's units per line, looked up (PostgreSQL: the index on kiosk and day; the aggregate
    -- keeps the planner from turning it into a join that scans every sale), never a scan of all sales
    CROSS JOIN LATERAL (
        SELECT f.product_line_id, sum(f.quantity) AS units
        FROM fct_sales AS f
        WHERE f.kiosk_serial_number = h.kiosk_serial_number AND f.date_key = h.date_key AND f.is_counted
        GROUP BY f.product_line_id
    ) AS s
    GROUP BY h.kiosk_serial_number, s.product_line_id
),
line_cells AS (
    SELECT kiosk_serial_number, product_line_id, count(*) AS cell_count
    FROM cells
    WHERE product_line_id IS NOT NULL
    GROUP BY kiosk_serial_number, product_line_id
),
demand AS (
    SELECT
        c.kiosk_serial_number,
        c.load_cell_id,
        CASE
            WHEN COALESCE(h.weekday_days, 0) > 0 THEN 'weekday'
            WHEN COALESCE(h.all_days, 0) > 0 THEN 'all days'
            ELSE 'none'
        END AS demand_basis,
        CASE WHEN COALESCE(h.weekday_days, 0) > 0 THEN h.weekday_days ELSE COALESCE(h.all_days, 0) END
            AS demand_days,
        CASE WHEN COALESCE(h.weekday_days, 0) > 0 THEN COALESCE(s.weekday_units, 0) ELSE COALESCE(s.all_units, 0) END
            AS demand_units,
        COALESCE(lc.cell_count, 1) AS cell_count
    FROM cells AS c
    LEFT JOIN history_days AS h ON h.kiosk_serial_number = c.kiosk_serial_number
    LEFT JOIN line_sales AS s
        ON s.kiosk_serial_number = c.kiosk_serial_number AND s.product_line_id = c.product_line_id
    LEFT JOIN line_cells AS lc
        ON lc.kiosk_serial_number = c.kiosk_serial_number AND lc.product_line_id = c.product_line_id
),
-- demand in thousandths of a unit per day, rounded half-up in integers: exact and identical on both engines
demand_milli AS (
    SELECT
        d.*,
        CASE
            WHEN d.demand_days > 0 AND c.product_line_id IS NOT NULL THEN
                (2 * 1000 * CAST(d.demand_units AS BIGINT) + d.demand_days * d.cell_count)
                // (2 * d.demand_days * d.cell_count)
            ELSE 0
        END AS milli_per_day
    FROM demand AS d
    JOIN cells AS c ON c.kiosk_serial_number = d.kiosk_serial_number AND c.load_cell_id = d.load_cell_id
),
-- the refills of each cell's line, newest first: the units on hand are the latest added (first in, first out)
refill_layers AS (
    SELECT
        c.kiosk_serial_number,
        c.load_cell_id,
        r.quantity_added,
        r.expiration_date,
        c.next_visit_date,
        c.quantity_on_hand,
        sum(r.quantity_added) OVER (
            PARTITION BY c.kiosk_serial_number, c.load_cell_id
            ORDER BY r.refilled_at_utc DESC, r.refill_id DESC, r.line_number DESC
            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
        ) AS added_since
    FROM cells AS c
    JOIN fct_refills AS r
        ON r.kiosk_serial_number = c.kiosk_serial_number
        AND r.product_line_id = c.product_line_id
        AND r.planogram_position = c.planogram_position
        AND r.refilled_at_utc <= c.snapshot_at_utc
    WHERE r.quantity_added > 0
),
expiring AS (
    SELECT
        kiosk_serial_number,
        load_cell_id,
        -- the part of each layer still on hand: what the newer layers leave of quantity_on_hand
        sum(
            CASE
                WHEN expiration_date <= next_visit_date THEN
                    CASE
                        WHEN added_since <= quantity_on_hand THEN quantity_added
                        WHEN added_since - quantity_added < quantity_on_hand
                            THEN quantity_on_hand - (added_since - quantity_added)
                        ELSE 0
                    END
                ELSE 0
            END
        ) AS units
    FROM refill_layers
    GROUP BY kiosk_serial_number, load_cell_id
),
planned AS (
    SELECT
        c.*,
        m.demand_basis,
        m.demand_days,
        m.milli_per_day,
        CASE
            WHEN c.product_line_id IS NULL THEN NULL
            WHEN c.quantity_on_hand = 0 THEN 0
            WHEN c.next_expiration_date IS NULL THEN NULL
            WHEN c.next_expiration_date > c.next_visit_date THEN 0
            WHEN e.units IS NULL THEN NULL
            ELSE CAST(e.units AS INTEGER)
        END AS expiring_units
    FROM cells AS c
    JOIN demand_milli AS m ON m.kiosk_serial_number = c.kiosk_serial_number AND m.load_cell_id = c.load_cell_id
    LEFT JOIN expiring AS e ON e.kiosk_serial_number = c.kiosk_serial_number AND e.load_cell_id = c.load_cell_id
),
suggested AS (
    SELECT
        p.*,
        CASE
            WHEN p.product_line_id IS NULL OR COALESCE(p.capacity, 0) <= 0 THEN 0
            WHEN p.capacity - (p.quantity_on_hand - COALESCE(p.expiring_units, 0)) > 0
                THEN p.capacity - (p.quantity_on_hand - COALESCE(p.expiring_units, 0))
            ELSE 0
        END AS refill_units
    FROM planned AS p
)
SELECT
    s.kiosk_serial_number,
    s.load_cell_id,
    s.planogram_position,
    s.snapshot_at_utc,
    s.snapshot_at_local,
    s.date_key,
    s.local_date,
    s.next_visit_date,
    s.product_key,
    s.product_meta_id,
    s.product_line_id,
    s.product_name,
    s.quantity_on_hand,
    s.capacity,
    CAST(CAST(s.milli_per_day AS DECIMAL(18, 3)) * 0.001 AS DECIMAL(18, 3)) AS avg_units_sold_per_day,
    s.demand_basis,
    CAST(s.demand_days AS INTEGER) AS demand_days,
    CASE
        WHEN s.milli_per_day > 0 THEN
            CAST(
                CAST((2 * 100000 * CAST(s.quantity_on_hand AS BIGINT) + s.milli_per_day) // (2 * s.milli_per_day)
                    AS DECIMAL(18, 2)) * 0.01
                AS DECIMAL(18, 2)
            )
    END AS days_of_cover,
    CASE
        WHEN s.milli_per_day > 0 THEN
            CAST(s.local_date + CAST((1000 * CAST(s.quantity_on_hand AS BIGINT)) // s.milli_per_day AS INTEGER)
                * INTERVAL 1 DAY AS DATE)
    END AS predicted_stock_out_date,
    s.next_expiration_date,
    s.expiring_units AS units_expiring_before_next_visit,
    CAST(s.refill_units AS INTEGER) AS suggested_refill_quantity,
    s.unit_cost,
    s.unit_price,
    CAST(COALESCE(round(s.refill_units * s.unit_cost, 2), 0) AS DECIMAL(18, 2)) AS suggested_refill_cost,
    CAST(COALESCE(round(s.refill_units * s.unit_price, 2), 0) AS DECIMAL(18, 2)) AS suggested_refill_sales_value,
    s.currency
FROM suggested AS s
