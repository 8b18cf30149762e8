package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"effidx/warehouse/chtest"
)

// The wall screen's size: the cockpit is laid out for it.
const screenW, screenH = 1920, 1080

// chromiumPath is Debian's chromium. Like ClickHouse, a missing browser is
// a failure, not a skip: CI must not go green without the browser test.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	t.Fatal("chromium not found: run `make test` (scripts/deps.sh installs Debian's chromium and a Chinese font)")
	return ""
}

// startDemo runs `effidx demo` (a small simulated city, its lights and
// index computed) on a database of the test ClickHouse, and waits until it
// serves.
func startDemo(t *testing.T, args ...string) *proc {
	t.Helper()
	addr, db := chtest.Addr(t), chtest.Database(t)
	args = append([]string{"demo", "--listen", "127.0.0.1:0", "--data-dir", t.TempDir(),
		"--clickhouse-addr", addr, "--clickhouse-database", db, "--log-level", "warn"}, args...)
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "EFFIDX_TEST_AS_MAIN=1", "EFFIDX_INGEST_TOKENS=")
	p := &proc{t: t, cmd: cmd, stderr: &syncBuffer{}, exited: make(chan struct{})}
	cmd.Stderr = p.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = cmd.Wait()
		close(p.exited)
	}()
	stdout := &syncBuffer{}
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("effidx demo output:\n%s\n%s", stdout.String(), p.stderr.String())
		}
	})
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			fmt.Fprintln(stdout, sc.Text())
			if rest, ok := strings.CutPrefix(sc.Text(), "effidx demo: serving on "); ok {
				urls <- strings.Fields(rest)[0]
			}
		}
	}()
	select {
	case p.url = <-urls:
		return p
	case <-p.exited:
		t.Fatalf("effidx demo exited before serving:\n%s\n%s", stdout.String(), p.stderr.String())
	case <-time.After(5 * time.Minute):
		t.Fatalf("effidx demo did not serve within 5 minutes:\n%s\n%s", stdout.String(), p.stderr.String())
	}
	return nil
}

// newBrowser starts headless chromium with the flags the deployment
// mandates and returns a context whose children are its tabs.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	out := &syncBuffer{}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.WindowSize(screenW, screenH),
		chromedp.CombinedOutput(out),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
		if t.Failed() {
			if text := chromiumNoise(out.String()); text != "" {
				t.Logf("chromium output:\n%s", text)
			}
		}
	})
	// The first Do starts the browser; bound it so a browser that hangs
	// fails the test instead of the test binary's timeout.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(bctx) }()
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("start chromium: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("chromium did not start within 60s")
	}
	return bctx
}

// tabWatch collects what a tab must not do: log errors, throw, or ask for
// anything beyond loopback.
type tabWatch struct {
	mu       sync.Mutex
	errors   []string
	requests []string
	outside  []string
}

func (w *tabWatch) listen(ev any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
			var args []string
			for _, a := range ev.Args {
				var text string
				if json.Unmarshal(a.Value, &text) == nil {
					args = append(args, text) // a string, unquoted
				} else if len(a.Value) > 0 {
					args = append(args, string(a.Value))
				} else {
					args = append(args, a.Description)
				}
			}
			w.errors = append(w.errors, fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(args, " ")))
		}
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		text := d.Text
		if d.Exception != nil && d.Exception.Description != "" {
			text += " " + d.Exception.Description
		}
		w.errors = append(w.errors, fmt.Sprintf("uncaught exception at %s:%d:%d: %s", d.URL, d.LineNumber+1, d.ColumnNumber+1, text))
	case *log.EventEntryAdded:
		// The browser's own favicon fetch is not the page's doing; a page
		// that wants none says <link rel="icon" href="data:,">.
		if ev.Entry.Level == log.EntryLevelError && !strings.HasSuffix(ev.Entry.URL, "/favicon.ico") {
			w.errors = append(w.errors, fmt.Sprintf("browser log (%s): %s %s", ev.Entry.Source, ev.Entry.Text, ev.Entry.URL))
		}
	case *network.EventRequestWillBeSent:
		w.requests = append(w.requests, ev.Request.URL)
		if !local(ev.Request.URL) {
			w.outside = append(w.outside, ev.Request.URL)
		}
	}
}

func (w *tabWatch) snapshot() (errors, requests, outside []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.errors...), append([]string(nil), w.requests...), append([]string(nil), w.outside...)
}

// local: the city's network is closed, so a page may load only from
// effidx itself (and inline data).
func local(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	switch u.Scheme {
	case "data", "blob":
		return true
	case "http", "https", "ws", "wss":
		h := u.Hostname()
		return h == "127.0.0.1" || h == "localhost" || h == "::1"
	}
	return false
}

// chartState is what the page's ECharts instances hold.
type chartState struct {
	ECharts bool `json:"echarts"`
	Charts  []struct {
		ID       string `json:"id"`
		Instance bool   `json:"instance"`
		Series   int    `json:"series"`
		WithData int    `json:"with_data"`
	} `json:"charts"`
}

// chartStateJS asks ECharts itself, not the HTML: an instance exists for
// every chart container and its series carry data.
const chartStateJS = `(() => {
  const ok = typeof echarts !== 'undefined' && typeof echarts.getInstanceByDom === 'function';
  const charts = Array.from(document.querySelectorAll('[_echarts_instance_]')).map(el => {
    const inst = ok ? echarts.getInstanceByDom(el) : null;
    const series = inst ? ((inst.getOption() || {}).series || []) : [];
    return {
      id: el.id || el.getAttribute('_echarts_instance_'),
      instance: !!inst,
      series: series.length,
      with_data: series.filter(s => Array.isArray(s.data) && s.data.length > 0).length,
    };
  });
  return {echarts: ok, charts};
})()`

// rendered: at least min charts, each an instance with a series with data.
func (s chartState) rendered(min int) bool {
	if len(s.Charts) < min {
		return false
	}
	for _, c := range s.Charts {
		if !c.Instance || c.WithData == 0 {
			return false
		}
	}
	return true
}

func (s chartState) String() string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestBrowserShowsTheDashboardPagesWithChartsNoErrorsAndNothingFromOutside(t *testing.T) {
	chromiumPath(t) // fail before the city is built
	base := os.Getenv("EFFIDX_BROWSER_TEST_URL")
	if base == "" {
		// 35 days: this month and the last, so the trends have two points.
		base = startDemo(t, "--days", "35", "--cases-per-day", "200").url
	} else {
		t.Logf("testing the running server at %s (EFFIDX_BROWSER_TEST_URL)", base)
	}
	browser := newBrowser(t)
	shots := t.TempDir()

	tests := []struct {
		name, path, page string
		minCharts        int
		waitReady        bool // the cockpit's DOM contract: body[data-ready="1"] after its first data load
	}{
		{"cockpit", "/", "cockpit", 4, true},
		{"self-portrait", "/departments/D01", "portrait", 1, false}, // the radar at least
		{"lights", "/lights", "lights", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &tabWatch{}
			tab, cancelTab := chromedp.NewContext(browser, chromedp.WithListener(w.listen))
			defer cancelTab()
			ctx, cancel := context.WithTimeout(tab, 90*time.Second)
			defer cancel()
			if err := chromedp.Do(ctx, chromedp.EmulateViewport(screenW, screenH)); err != nil {
				t.Fatalf("open a tab: %v", err)
			}
			resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(base+tt.path))
			if err != nil {
				t.Fatalf("load %s: %v", tt.path, err)
			}
			// Without the page there is nothing to wait for; the rest
			// still runs, so the screenshot shows what was served.
			served := resp.Status == 200
			if !served {
				t.Errorf("GET %s = %d %s", tt.path, resp.Status, resp.StatusText)
			}
			page, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('main[data-page]')?.dataset.page ?? ""`))
			if err != nil {
				t.Fatalf("read main[data-page]: %v", err)
			}
			if page != tt.page {
				t.Errorf(`<main data-page=%q> is missing (found %q)`, tt.page, page)
			}
			if tt.waitReady && served {
				waitJS(t, ctx, `document.body?.dataset.ready === "1"`, 30*time.Second, "body[data-ready=1] (the cockpit's first data load)")
			}
			// Charts draw after the page's scripts (and the cockpit's
			// data) ran: poll until they hold data or time runs out.
			var state chartState
			deadline := time.Now()
			if served {
				deadline = deadline.Add(20 * time.Second)
			}
			for {
				state, err = chromedp.Run(ctx, chromedp.Evaluate[chartState](chartStateJS))
				if err != nil {
					t.Fatalf("ask ECharts: %v", err)
				}
				if state.rendered(tt.minCharts) || time.Now().After(deadline) {
					break
				}
				time.Sleep(200 * time.Millisecond)
			}
			switch {
			case tt.minCharts > 0 && !state.ECharts:
				t.Errorf("echarts is not loaded in the page")
			case !state.rendered(tt.minCharts):
				t.Errorf("charts did not render: want at least %d ECharts instances, each with a series with data; got %s", tt.minCharts, state)
			default:
				t.Logf("%d charts rendered: %s", len(state.Charts), state)
			}

			// ECharts animates for about a second: the screenshot shows
			// the charts drawn, and late errors arrive before the checks.
			time.Sleep(1500 * time.Millisecond)
			shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
			if err != nil {
				t.Fatalf("screenshot: %v", err)
			}
			if cfg, err := png.DecodeConfig(bytes.NewReader(shot)); err != nil {
				t.Errorf("screenshot is not a PNG: %v", err)
			} else if cfg.Width != screenW || cfg.Height < screenH {
				t.Errorf("screenshot is %d×%d, want %d wide and at least %d high", cfg.Width, cfg.Height, screenW, screenH)
			}
			file := filepath.Join(shots, tt.name+".png")
			if err := os.WriteFile(file, shot, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("screenshot: %s", file)
			if dir := os.Getenv("EFFIDX_SCREENSHOT_DIR"); dir != "" && tt.page == "cockpit" {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, "cockpit.png"), shot, 0o644); err != nil {
					t.Fatal(err)
				}
				t.Logf("screenshot: %s", filepath.Join(dir, "cockpit.png"))
			}

			errs, requests, outside := w.snapshot()
			for _, e := range errs {
				t.Errorf("%s: %s", tt.path, e)
			}
			for _, u := range outside {
				t.Errorf("%s asked for %s: every request must stay on loopback", tt.path, u)
			}
			if len(requests) == 0 {
				t.Errorf("saw no requests at all: the network listener is not working")
			}
		})
	}
}

// chromiumNoise drops what chromium always says in a container without a
// desktop (no D-Bus) and the Debian launcher's shell warning.
func chromiumNoise(out string) string {
	var keep []string
	for _, l := range strings.Split(out, "\n") {
		if l == "" || strings.Contains(l, "dbus/") || strings.Contains(l, "/usr/bin/chromium: ") {
			continue
		}
		keep = append(keep, l)
	}
	return strings.Join(keep, "\n")
}

// waitJS polls expr in the page until it is true.
func waitJS(t *testing.T, ctx context.Context, expr string, d time.Duration, what string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		if err != nil {
			t.Fatalf("wait for %s: %v", what, err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("no %s after %s", what, d)
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestBenchDashboardReportsFiguresPerRouteAndStatusForMissingPages(t *testing.T) {
	addr := chtest.Addr(t)
	routes := []string{
		"/api/v1/scores?period={month}",
		"/api/v1/portrait/D01?period={month}",
		"/api/v1/lights?level=red&limit=100",
		"/no-such-page",
	}
	args := []string{"bench", "dashboard", "--days", "3", "--cases-per-day", "100", "--clients", "4",
		"--duration", "500ms", "--warmup", "100ms", "--routes", strings.Join(routes, ","), "--clickhouse-addr", addr}
	var out, errOut bytes.Buffer
	if err := Run(t.Context(), args, nil, &out, &errOut); err != nil {
		t.Fatalf("%v: %v\n%s", args, err, errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var figures struct {
		Bench  string                    `json:"bench"`
		Period string                    `json:"period"`
		Routes map[string]map[string]any `json:"routes"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &figures); err != nil {
		t.Fatalf("last line is not JSON: %q", lines[len(lines)-1])
	}
	if figures.Bench != "dashboard" || len(figures.Routes) != len(routes) {
		t.Fatalf("figures = %s", lines[len(lines)-1])
	}
	for _, r := range routes[:3] {
		path := strings.ReplaceAll(r, "{month}", figures.Period)
		got := figures.Routes[path]
		if got["status"] != 200.0 {
			t.Errorf("%s: status %v, want 200", path, got["status"])
		}
		for _, k := range []string{"p50_ms", "p99_ms", "rps"} {
			if v, ok := got[k].(float64); !ok || v <= 0 {
				t.Errorf("%s: %s = %v, want a positive number", path, k, got[k])
			}
		}
	}
	// A page that does not exist is reported, not measured, and does not
	// fail the bench.
	if got := figures.Routes["/no-such-page"]; got["status"] != 404.0 || got["p99_ms"] != nil {
		t.Errorf("/no-such-page: %v, want status 404 and no figures", got)
	}
}
