// Package rules will hold the data every other package reads: the working-
// day calendar, light thresholds and the Prometheus alert rules with their
// promtool tests (issue 3).
package rules
