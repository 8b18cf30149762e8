// Package indices holds the reform efficiency index: the versioned
// 40-indicator catalog (catalog.yaml, embedded as the default and
// replaceable by a file without a rebuild) with its strict loader and the
// per-indicator score (SPEC 5). The ClickHouse computation per subject and
// period, ranking and traceable deductions follow (issue 4); they read
// events that the collector stored through the warehouse package.
package indices
