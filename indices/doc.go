// Package indices is the reform efficiency index (SPEC 5): the versioned
// 40-indicator catalog (catalog.yaml, embedded as the default and
// replaceable by a file without a rebuild) with its strict loader; the
// computation of every indicator's numerator and denominator in ClickHouse,
// per department, region and the city and per day, month, quarter and
// year (sql.go, defined in indicators.md); the stored results; scoring
// with n/a re-weighting and ranks; inspectors' manual entries with their
// audit trail; the cron jobs that keep it all fresh; and the JSON API,
// including the cases behind every deduction. It reads the events the
// collector stored through the warehouse package.
package indices
