// Package rules holds the data every other package reads and the Go code
// that reads it: the working-day calendar (calendar/cn, embedded, plus local
// overrides), the time rules of SPEC 4 (working days, due instants,
// suspensions, lights), the light thresholds (lights.yaml, embedded) and the
// Prometheus alert rules with their promtool tests (prometheus/).
//
// The time rules are pure: no I/O except a once-per-year warning when a
// deadline reaches a year without national data.
package rules
