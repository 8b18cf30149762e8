// Package indices will compute the reform efficiency index: the versioned
// 40-indicator catalog, the ClickHouse computation per subject and period,
// scoring, ranking and traceable deductions (issue 4). It reads events that
// the collector stored through the warehouse package.
package indices
