package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"effidx/indices"
	"effidx/remind"
	"effidx/rules"
)

const checkSummary = "check [--catalog FILE] [--config FILE] [--lights FILE] [--reminders FILE] [--directory FILE] [--calendar-override FILE ...] [--years-dir DIR]: " +
	"validate the indicator catalog, the light and reminder rules, the reminder directory, the calendar overrides and year files; " +
	"every problem is listed with its line, and the exit status is 1 if there is any"

// cmdCheck validates every data file the service reads, so that an edited
// weight or a new year's holidays can be tried before a restart. The rules
// files come from the config's rules section unless a flag names them
// (flags win, as everywhere: --calendar-override replaces the config's
// list). Each checked thing gets one line on stdout; the problems are in
// the returned error, which main prints and turns into exit status 1.
func cmdCheck(_ context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("check", stderr, checkSummary)
	load := configFlags(fs)
	catalogFile := fs.String("catalog", "", "indicator catalog YAML (default: the config's indices.catalog, else the embedded "+indices.DefaultFile+")")
	lightsFile := fs.String("lights", "", "light thresholds YAML (default: the config's rules.lights_file, else the embedded rules/lights.yaml)")
	remindersFile := fs.String("reminders", "", "reminder rules YAML (default: the config's rules.reminders_file, else the embedded rules/reminders.yaml)")
	directoryFile := fs.String("directory", "", "reminder directory YAML: who is responsible, their heads, how to reach them (default: the config's remind.directory, if any)")
	var overrides listFlag
	fs.Var(&overrides, "calendar-override", "local calendar override YAML (repeatable; replaces the config's rules.overrides)")
	yearsDir := fs.String("years-dir", "", "directory of extra holiday-cn year files (default: the config's rules.years_dir)")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("check: unexpected argument %q (files are named by flags)", fs.Arg(0))}
	}
	r := &checkReport{out: stdout}

	// The config first: it says where the rules files are. A broken one is
	// reported, and the rest is checked with whatever it did yield.
	cfg, err := load()
	cfgFile := fs.Lookup("config").Value.String()
	if cfgFile == "" {
		cfgFile = os.Getenv("EFFIDX_CONFIG")
	}
	switch {
	case err != nil && cfgFile == "":
		r.fail("config", "(defaults and EFFIDX_* environment)", err)
	case err != nil:
		r.fail("config", cfgFile, err)
	case cfgFile != "":
		r.ok("config", cfgFile, "")
	}
	rc := cfg.Rules
	if *lightsFile != "" {
		rc.LightsFile = *lightsFile
	}
	if *remindersFile != "" {
		rc.RemindersFile = *remindersFile
	}
	if len(overrides) > 0 {
		rc.Overrides = overrides
	}
	if *yearsDir != "" {
		rc.YearsDir = *yearsDir
	}

	if *catalogFile == "" {
		*catalogFile = cfg.Indices.Catalog
	}
	cat, err := indices.Load(*catalogFile)
	if err == nil {
		err = indices.CheckComputable(cat)
	}
	if err != nil {
		name := *catalogFile
		if name == "" {
			name = indices.DefaultFile
		}
		r.fail("catalog", name, err)
	} else {
		manual := 0
		for _, ind := range cat.Indicators() {
			if ind.Manual {
				manual++
			}
		}
		r.ok("catalog", cat.Source, fmt.Sprintf("%sversion %s, %d indicators: %d computed, %d manual",
			embedded(*catalogFile), cat.Version(), len(cat.Indicators()), len(cat.Indicators())-manual, manual))
	}

	if rc.LightsFile == "" {
		r.ok("lights", "rules/lights.yaml", "embedded; version "+rules.DefaultLightRules().Version)
	} else if lr, err := rules.LoadLightRules(rc.LightsFile); err != nil {
		r.fail("lights", rc.LightsFile, err)
	} else {
		r.ok("lights", rc.LightsFile, "version "+lr.Version)
	}

	if rc.RemindersFile == "" {
		rr := rules.DefaultReminderRules()
		r.ok("reminders", "rules/reminders.yaml", fmt.Sprintf("embedded; version %s, %d rules", rr.Version, len(rr.Rules)))
	} else if rr, err := rules.LoadReminderRules(rc.RemindersFile); err != nil {
		r.fail("reminders", rc.RemindersFile, err)
	} else {
		r.ok("reminders", rc.RemindersFile, fmt.Sprintf("version %s, %d rules", rr.Version, len(rr.Rules)))
	}
	if *directoryFile == "" {
		*directoryFile = cfg.Remind.Directory
	}
	if *directoryFile != "" {
		if d, err := remind.LoadDirectory(*directoryFile); err != nil {
			r.fail("directory", *directoryFile, err)
		} else {
			r.ok("directory", *directoryFile, fmt.Sprintf("version %s, %d people in %d departments", d.Version, len(d.People), len(d.Departments)))
		}
	}

	// Each override on its own, so that its problems carry its lines once;
	// the calendar is then built from the good ones only.
	var good []string
	for _, f := range rc.Overrides {
		src, err := rules.ReadSource(f)
		if err == nil {
			var ov rules.Override
			if ov, err = rules.ParseOverride(src.Name, src.Data); err == nil {
				r.ok("override", f, fmt.Sprintf("%s: %d closed, %d open", ov.Name, len(ov.Closed), len(ov.Open)))
				good = append(good, f)
				continue
			}
		}
		r.fail("override", f, err)
	}

	r.calendar(rules.Config{YearsDir: rc.YearsDir, Overrides: good}, cfg.Timezone, len(rc.Overrides)-len(good), stderr)
	return r.err()
}

// calendar builds the calendar the way serve does (rules.NewLoader):
// embedded years, the years directory over them, then the overrides.
func (r *checkReport) calendar(rc rules.Config, tz string, badOverrides int, stderr io.Writer) {
	name := "embedded years"
	if rc.YearsDir != "" {
		name = "embedded years + " + rc.YearsDir
		// The loader would take a missing directory for an empty one.
		if st, err := os.Stat(rc.YearsDir); err != nil || !st.IsDir() {
			if err == nil {
				err = errors.New("not a directory")
			}
			r.fail("calendar", name, fmt.Errorf("years dir %s: %w", rc.YearsDir, err))
			return
		}
	}
	// A bad zone is the config's problem, reported there; the files are
	// still worth checking.
	loc, err := rules.LoadLocation(tz)
	if err != nil {
		loc, _ = rules.LoadLocation(rules.DefaultTimezone)
	}
	l, err := rules.NewLoader(rc, loc, newLogger(stderr, "warn"))
	if err != nil {
		r.fail("calendar", name, err)
		return
	}
	c, err := l.Current()
	if err != nil {
		r.fail("calendar", name, err)
		return
	}
	detail := fmt.Sprintf("version %s, %s", c.Version(), loc)
	if years := c.CoveredYears(); len(years) > 0 {
		detail += fmt.Sprintf(", national data %d..%d", years[0], years[len(years)-1])
	}
	if rc.YearsDir != "" {
		files, _ := filepath.Glob(filepath.Join(rc.YearsDir, "*.json"))
		detail += fmt.Sprintf(", %d year files in the directory", len(files))
	}
	detail += fmt.Sprintf(", %d overrides", len(rc.Overrides))
	if badOverrides > 0 {
		detail += fmt.Sprintf(" (built without the %d that failed)", badOverrides)
	}
	r.ok("calendar", name, detail)
}

func embedded(file string) string {
	if file == "" {
		return "embedded; "
	}
	return ""
}

// checkReport prints one line per checked thing and keeps the problems.
type checkReport struct {
	out      io.Writer
	checked  int
	failed   int
	problems []string
}

func (r *checkReport) ok(what, name, detail string) {
	r.checked++
	if detail != "" {
		detail = " (" + detail + ")"
	}
	fmt.Fprintf(r.out, "ok   %s %s%s\n", what, name, detail)
}

func (r *checkReport) fail(what, name string, err error) {
	r.checked++
	r.failed++
	// A *rules.FileError already names its file on every line; other
	// errors (a missing file, a config setting) get what they are about.
	lines := strings.Split(err.Error(), "\n")
	if _, ok := err.(*rules.FileError); !ok {
		for i, l := range lines {
			if !strings.HasPrefix(l, what+" ") { // "config FILE: ..." already says
				lines[i] = what + ": " + l
			}
		}
	}
	r.problems = append(r.problems, lines...)
	n := "1 problem"
	if len(lines) > 1 {
		n = fmt.Sprintf("%d problems", len(lines))
	}
	fmt.Fprintf(r.out, "FAIL %s %s (%s)\n", what, name, n)
}

func (r *checkReport) err() error {
	if r.failed == 0 {
		return nil
	}
	return fmt.Errorf("check: %d of %d failed:\n%s", r.failed, r.checked, strings.Join(r.problems, "\n"))
}
