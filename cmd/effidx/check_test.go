package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// runCheck runs `effidx check args...` with no EFFIDX_* settings from the
// environment of the test process.
func runCheck(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	for _, k := range []string{"EFFIDX_CONFIG", "EFFIDX_LISTEN", "EFFIDX_DATA_DIR", "EFFIDX_CLICKHOUSE_ADDR", "EFFIDX_CLICKHOUSE_DATABASE",
		"EFFIDX_CLICKHOUSE_USER", "EFFIDX_CLICKHOUSE_PASSWORD", "EFFIDX_CLICKHOUSE_TLS", "EFFIDX_CLICKHOUSE_CLUSTER",
		"EFFIDX_INGEST_TOKENS", "EFFIDX_TIMEZONE", "EFFIDX_LOG_LEVEL"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	var out, errOut bytes.Buffer
	err := Run(t.Context(), append([]string{"check"}, args...), nil, &out, &errOut)
	return out.String(), errOut.String(), err
}

func checkWriteFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func checkAbs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// wantLines checks that out has exactly the lines matching the patterns, in
// order.
func checkWantLines(t *testing.T, out string, patterns ...string) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != len(patterns) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(patterns), out)
	}
	for i, p := range patterns {
		if !regexp.MustCompile(p).MatchString(lines[i]) {
			t.Errorf("line %d\n got %s\nwant %s", i+1, lines[i], p)
		}
	}
}

func TestCheckEmbeddedDefaults(t *testing.T) {
	out, _, err := runCheck(t)
	if err != nil {
		t.Fatal(err)
	}
	checkWantLines(t, out,
		`^ok   catalog indices/catalog\.yaml \(embedded; version 2026\.1\+[0-9a-f]{8}, 40 indicators: 36 computed, 4 manual\)$`,
		`^ok   lights rules/lights\.yaml \(embedded; version [0-9a-f]{12}\)$`,
		`^ok   reminders rules/reminders\.yaml \(embedded; version [0-9a-f]{12}, 2 rules\)$`,
		`^ok   calendar embedded years \(version [0-9a-f]{12}, Asia/Shanghai, national data 2007\.\.2026, 0 overrides\)$`)
}

func TestCheckConfigAndFlagFiles(t *testing.T) {
	dir := t.TempDir()
	years := filepath.Join(dir, "years")
	if err := os.Mkdir(years, 0o755); err != nil {
		t.Fatal(err)
	}
	checkWriteFile(t, years, "2027.json", `{"year": 2027, "papers": [], "days": [{"name": "元旦", "date": "2027-01-01", "isOffDay": true}]}`)
	closure := checkAbs(t, "../../rules/testdata/override/closure.good.yaml")
	opening := checkAbs(t, "../../rules/testdata/override/opening.good.yaml")
	cfg := checkWriteFile(t, dir, "effidx.yaml", "timezone: UTC\nrules:\n  lights_file: "+checkAbs(t, "../../rules/testdata/lights/strict.good.yaml")+
		"\n  overrides: ["+closure+"]\n  years_dir: "+years+"\n")
	// The config names the lights, the years and one override; the flag's
	// override replaces the config's.
	out, _, err := runCheck(t, "--config", cfg, "--catalog", "../../indices/testdata/minimal.good.yaml", "--calendar-override", opening)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	checkWantLines(t, out,
		`^ok   config `+regexp.QuoteMeta(cfg)+`$`,
		`^ok   catalog \.\./\.\./indices/testdata/minimal\.good\.yaml \(version 2027-pilot\+[0-9a-f]{8}, 4 indicators: 3 computed, 1 manual\)$`,
		`^ok   lights .*/strict\.good\.yaml \(version [0-9a-f]{12}\)$`,
		`^ok   reminders rules/reminders\.yaml `,
		`^ok   override `+regexp.QuoteMeta(opening)+` \(.+: 0 closed, 1 open\)$`,
		`^ok   calendar embedded years \+ `+regexp.QuoteMeta(years)+` \(version [0-9a-f]{12}, UTC, national data 2007\.\.2027, 1 year files in the directory, 1 overrides\)$`)
}

func TestCheckBadCatalogListsEveryProblemWithLines(t *testing.T) {
	const file = "../../indices/testdata/weights.bad.yaml"
	out, _, err := runCheck(t, "--catalog", file)
	if err == nil {
		t.Fatalf("no error:\n%s", out)
	}
	if errors.As(err, new(usageError)) {
		t.Errorf("a bad file is not a bad argument (exit status 1, not 2): %v", err)
	}
	// The other files are still checked.
	checkWantLines(t, out,
		`^FAIL catalog `+regexp.QuoteMeta(file)+` \(5 problems\)$`,
		`^ok   lights rules/lights\.yaml `,
		`^ok   reminders rules/reminders\.yaml `,
		`^ok   calendar embedded years `)
	want := "check: 1 of 4 failed:\n" +
		file + ":6: S: the weights of its groups add up to 39, want 40 (the weight of S)\n" +
		file + ":11: S1: the weights of its indicators add up to 11, want 12 (the weight of S1)\n" +
		file + ":32: C1.1.weight: want a number above 0, got 0\n" +
		file + ":33: C1.2.weight: want a number above 0, got -30\n" +
		file + `:37: E.weight: want a number, got "30"`
	if err.Error() != want {
		t.Errorf("error\n%s\nwant\n%s", err, want)
	}
}

func TestCheckBadRulesAndCalendarFiles(t *testing.T) {
	dir := t.TempDir()
	checkWriteFile(t, dir, "2027.json", `{"year": 2027, "days": [{"date": "2027-13-01", "isOffDay": true}]}`)
	badOverride := "../../rules/testdata/override/unknown_key.bad.yaml"
	goodOverride := "../../rules/testdata/override/closure.good.yaml"
	badLights := "../../rules/testdata/lights/missing.bad.yaml"
	cfg := checkWriteFile(t, dir, "effidx.yaml", "rules:\n  years_dir: "+dir+"\nlisten_address: 127.0.0.1:80\n")
	out, _, err := runCheck(t, "--config", cfg, "--lights", badLights, "--calendar-override", badOverride,
		"--calendar-override", goodOverride, "--calendar-override", filepath.Join(dir, "missing.yaml"))
	if err == nil || errors.As(err, new(usageError)) {
		t.Fatalf("error %v, want the problems (exit status 1)\n%s", err, out)
	}
	checkWantLines(t, out,
		`^FAIL config `+regexp.QuoteMeta(cfg)+` \(\d+ problems?\)$`,
		`^ok   catalog indices/catalog\.yaml `,
		`^FAIL lights `+regexp.QuoteMeta(badLights)+` \(4 problems\)$`,
		`^ok   reminders rules/reminders\.yaml `,
		`^FAIL override `+regexp.QuoteMeta(badOverride)+` \(1 problem\)$`,
		`^ok   override `+regexp.QuoteMeta(goodOverride)+` `,
		`^FAIL override .*missing\.yaml \(1 problem\)$`,
		`^FAIL calendar embedded years \+ `+regexp.QuoteMeta(dir)+` \(1 problem\)$`)
	for _, want := range []string{
		"check: 5 of 8 failed:\n",
		"\nconfig " + cfg + ": ",
		`field listen_address not found`,
		badLights + `:1: lights: missing key "tasks"`,
		badLights + `:3: steps: missing key "yellow_on_last_working_day"`,
		badOverride + `:4: override: unknown key "opened" (known: closed, name, open)`,
		"override: open " + filepath.Join(dir, "missing.yaml") + ": ",
		"calendar: " + filepath.Join(dir, "2027.json") + ": days[0]: ",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%s", want, err)
		}
	}
}

func TestCheckReminderRulesAndDirectory(t *testing.T) {
	badRules := "../../rules/testdata/reminders/shadowed.bad.yaml"
	goodDir := "../../remind/testdata/directory/city.good.yaml"
	badDir := "../../remind/testdata/directory/shapes.bad.yaml"
	dir := t.TempDir()
	cfg := checkWriteFile(t, dir, "effidx.yaml", "rules:\n  reminders_file: "+checkAbs(t, "../../rules/testdata/reminders/narrow_first.good.yaml")+
		"\nremind:\n  directory: "+checkAbs(t, goodDir)+"\n")
	out, _, err := runCheck(t, "--config", cfg)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	checkWantLines(t, out,
		`^ok   config `,
		`^ok   catalog `,
		`^ok   lights `,
		`^ok   reminders .*/narrow_first\.good\.yaml \(version [0-9a-f]{12}, 2 rules\)$`,
		`^ok   directory .*/city\.good\.yaml \(version [0-9a-f]{12}, 8 people in 2 departments\)$`,
		`^ok   calendar `)
	// Flags win over the config; every problem with its line.
	out, _, err = runCheck(t, "--config", cfg, "--reminders", badRules, "--directory", badDir)
	if err == nil || errors.As(err, new(usageError)) {
		t.Fatalf("error %v, want the problems (exit status 1)\n%s", err, out)
	}
	checkWantLines(t, out,
		`^ok   config `,
		`^ok   catalog `,
		`^ok   lights `,
		`^FAIL reminders `+regexp.QuoteMeta(badRules)+` \(2 problems\)$`,
		`^FAIL directory `+regexp.QuoteMeta(badDir)+` \(3 problems\)$`,
		`^ok   calendar `)
	for _, want := range []string{
		badRules + `:12: rule "licences of D01" never applies: rule "all cases" (line 6) comes first and matches all its items (put narrower rules first)`,
		badDir + `:4: directory: unknown key "staff" (known: departments, people)`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%s", want, err)
		}
	}
}

func TestCheckBadArguments(t *testing.T) {
	for _, args := range [][]string{{"catalog.yaml"}, {"--no-such-flag"}, {"--catalog"}} {
		if _, _, err := runCheck(t, args...); !errors.As(err, new(usageError)) {
			t.Errorf("check %q: error %v, want a usage error (exit status 2)", args, err)
		}
	}
	if _, stderr, err := runCheck(t, "-h"); err != nil || !strings.Contains(stderr, "--calendar-override") {
		t.Errorf("check -h: %v\n%s", err, stderr)
	}
}
