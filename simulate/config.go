// Package simulate generates a deterministic, realistic event stream for a
// simulated city (SPEC section 3 events): about 40 departments, the 9
// county-level regions of Lishui, a few hundred matters, 12345 tickets,
// scenario incidents and reform tasks. The defaults are calibrated so the
// city-wide figures land near those the Lishui report gives for its platform
// while single departments spread well above and below.
//
// The output is byte-identical for the same Config on the same architecture;
// across architectures, Go may fuse floating-point operations differently,
// which can move a rare draw.
package simulate

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// Config says which stream to generate. The same Config always yields the
// same bytes.
type Config struct {
	Seed  int64
	Start time.Time // first day; only its date in Location counts. Zero: 2026-07-01
	Days  int       // days of new cases; 0 means 90
	// CasesPerDay is the mean number of service cases per calendar day
	// across the city (weekdays carry more, weekends less); 0 means 2000.
	// Other kinds scale from it: internal matters ~15%, 12345 tickets ~20%,
	// scenario incidents ~3%; reform tasks are a fixed set of 2 per department.
	CasesPerDay int
	// MalformedShare is the share of output lines that are deliberately
	// invalid. Unlike the other fields, 0 is taken literally (no malformed
	// lines); DefaultConfig sets 0.002.
	MalformedShare float64
	Location       *time.Location // nil means Asia/Shanghai (CST +08:00 without tzdata)
	// End: events at or after End are not emitted (cases stay open). Zero
	// means Start + Days. A later End lets the cases of the window run on.
	End time.Time
}

const (
	defaultDays        = 90
	defaultCasesPerDay = 2000
	defaultMalformed   = 0.002
	maxDays            = 3660      // ten years; more is a unit mistake
	maxCasesPerDay     = 1_000_000 // a province, not a city
)

// DefaultConfig returns the calibrated defaults (End left zero so that
// changing Days moves it along).
func DefaultConfig() Config {
	loc := defaultLocation()
	return Config{
		Seed:           1,
		Start:          time.Date(2026, 7, 1, 0, 0, 0, 0, loc),
		Days:           defaultDays,
		CasesPerDay:    defaultCasesPerDay,
		MalformedShare: defaultMalformed,
		Location:       loc,
	}
}

func defaultLocation() *time.Location {
	if loc, err := time.LoadLocation("Asia/Shanghai"); err == nil {
		return loc
	}
	// Without tzdata: Shanghai has kept +08:00 without DST since 1991, so the
	// output is byte-identical either way.
	return time.FixedZone("CST", 8*3600)
}

// Validate fills defaults (zero fields) and rejects nonsense, reporting every
// problem at once.
func (c *Config) Validate() error {
	var errs []string
	if c.Location == nil {
		c.Location = defaultLocation()
	}
	switch {
	case c.Days == 0:
		c.Days = defaultDays
	case c.Days < 1 || c.Days > maxDays:
		errs = append(errs, fmt.Sprintf("Days must be between 1 and %d, got %d", maxDays, c.Days))
	}
	switch {
	case c.CasesPerDay == 0:
		c.CasesPerDay = defaultCasesPerDay
	case c.CasesPerDay < 1 || c.CasesPerDay > maxCasesPerDay:
		errs = append(errs, fmt.Sprintf("CasesPerDay must be between 1 and %d, got %d", maxCasesPerDay, c.CasesPerDay))
	}
	if math.IsNaN(c.MalformedShare) || c.MalformedShare < 0 || c.MalformedShare > 0.5 {
		errs = append(errs, fmt.Sprintf("MalformedShare must be within [0, 0.5], got %v", c.MalformedShare))
	}
	if c.Start.IsZero() {
		c.Start = time.Date(2026, 7, 1, 0, 0, 0, 0, c.Location)
	}
	y, m, d := c.Start.In(c.Location).Date()
	c.Start = time.Date(y, m, d, 0, 0, 0, 0, c.Location)
	if y < 2000 || y > 9000 {
		// event.Parse rejects anything before 2000.
		errs = append(errs, fmt.Sprintf("Start must lie between the years 2000 and 9000, got %s", c.Start.Format("2006-01-02")))
	}
	if c.End.IsZero() {
		if c.Days >= 1 && c.Days <= maxDays {
			c.End = c.Start.AddDate(0, 0, c.Days)
		}
	} else if !c.End.After(c.Start) {
		errs = append(errs, fmt.Sprintf("End (%s) must be after Start (%s)",
			c.End.Format(time.RFC3339), c.Start.Format(time.RFC3339)))
	}
	if len(errs) > 0 {
		return errors.New("simulate: invalid config: " + strings.Join(errs, "; "))
	}
	return nil
}
