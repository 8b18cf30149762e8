package rules

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// Config says where the calendar and light rules come from.
type Config struct {
	// YearsDir holds extra holiday-cn year files (2027.json, ...) layered over
	// the embedded ones (a file for an embedded year replaces it). It is
	// re-read when its files change, so adding next year's data needs no
	// restart: provisional deadlines are recomputed at the next run.
	YearsDir   string   `yaml:"years_dir"`
	Overrides  []string `yaml:"overrides"`   // local closures / extra working days (YAML), later wins
	LightsFile string   `yaml:"lights_file"` // "" = the embedded rules/lights.yaml
	// RemindersFile says when the responsible are reminded and whom it
	// escalates to; "" = the embedded rules/reminders.yaml.
	RemindersFile string `yaml:"reminders_file"`
}

// Validate checks that the named files and directory exist.
func (c *Config) Validate() error {
	var errs []error
	if c.YearsDir != "" {
		if st, err := os.Stat(c.YearsDir); err != nil || !st.IsDir() {
			errs = append(errs, fmt.Errorf("rules years_dir %q is not a directory", c.YearsDir))
		}
	}
	for _, f := range append(append([]string(nil), c.Overrides...), c.LightsFile, c.RemindersFile) {
		if f == "" {
			continue
		}
		if _, err := os.Stat(f); err != nil {
			errs = append(errs, fmt.Errorf("rules file %q: %w", f, err))
		}
	}
	return errors.Join(errs...)
}

// LightRules loads the configured light thresholds.
func (c *Config) LightRules() (LightRules, error) {
	if c.LightsFile == "" {
		return DefaultLightRules(), nil
	}
	return LoadLightRules(c.LightsFile)
}

// ReminderRules loads the configured reminder rules.
func (c *Config) ReminderRules() (ReminderRules, error) {
	if c.RemindersFile == "" {
		return DefaultReminderRules(), nil
	}
	return LoadReminderRules(c.RemindersFile)
}

// Loader keeps the current calendar and rebuilds it when the files of
// YearsDir change (checked at most once per call of Current).
type Loader struct {
	cfg Config
	loc *time.Location
	log *slog.Logger

	mu    sync.Mutex
	cal   *Calendar
	stamp string
}

// NewLoader builds the first calendar; an error in any input is fatal here.
func NewLoader(cfg Config, loc *time.Location, log *slog.Logger) (*Loader, error) {
	if log == nil {
		log = slog.Default()
	}
	l := &Loader{cfg: cfg, loc: loc, log: log}
	if _, err := l.Current(); err != nil {
		return nil, err
	}
	return l, nil
}

// Current returns the calendar, rebuilt if YearsDir changed since the last
// call. A broken new file keeps the previous calendar and returns the error
// with it, so deadlines never fall back to guesses silently.
func (l *Loader) Current() (*Calendar, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	stamp, files, err := l.scan()
	if err != nil {
		return l.cal, err
	}
	if l.cal != nil && stamp == l.stamp {
		return l.cal, nil
	}
	years := map[string]Source{}
	for _, s := range EmbeddedYears() {
		years[filepath.Base(s.Name)] = s
	}
	for _, f := range files {
		s, err := ReadSource(f)
		if err != nil {
			return l.cal, err
		}
		years[filepath.Base(f)] = s
	}
	names := make([]string, 0, len(years))
	for n := range years {
		names = append(names, n)
	}
	sort.Strings(names)
	opts := CalendarOptions{Location: l.loc, Logger: l.log, Years: []Source{}}
	for _, n := range names {
		opts.Years = append(opts.Years, years[n])
	}
	for _, f := range l.cfg.Overrides {
		s, err := ReadSource(f)
		if err != nil {
			return l.cal, err
		}
		opts.Overrides = append(opts.Overrides, s)
	}
	cal, err := NewCalendar(opts)
	if err != nil {
		if l.cal != nil {
			l.log.Error("calendar files changed but do not load; keeping the previous calendar", "err", err)
		}
		return l.cal, err
	}
	if l.cal != nil {
		l.log.Info("calendar reloaded", "version", cal.Version(), "covered_until", cal.CoveredUntil(), "was", l.cal.Version())
	}
	l.cal, l.stamp = cal, stamp
	return cal, nil
}

// scan lists YearsDir's year files with their sizes and times.
func (l *Loader) scan() (string, []string, error) {
	if l.cfg.YearsDir == "" {
		return "", nil, nil
	}
	files, err := filepath.Glob(filepath.Join(l.cfg.YearsDir, "*.json"))
	if err != nil {
		return "", nil, err
	}
	sort.Strings(files)
	var b strings.Builder
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			return "", nil, fmt.Errorf("calendar year file: %w", err)
		}
		fmt.Fprintf(&b, "%s %d %d\n", f, st.Size(), st.ModTime().UnixNano())
	}
	return b.String(), files, nil
}
