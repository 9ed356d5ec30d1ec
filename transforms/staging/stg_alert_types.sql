/*
description: Alert type definitions (GET /alerts/types).
grain: one alert type
columns:
  type: Alert type name.
  category: Category of the type.
  default_severity: Severity new alerts of this type get.
  description: What the alert means.
*/
SELECT
    CAST(t.type AS VARCHAR) AS type,
    CAST(t.category AS VARCHAR) AS category,
    CAST(t.default_severity AS VARCHAR) AS default_severity,
    CAST(t.description AS VARCHAR) AS description
FROM raw.alert_types AS t
