package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"effidx/event"
	"effidx/lights"
	"effidx/rules"
)

// benchLights times the lights job over N open cases across 40
// departments, ClickHouse included: a first run (which records every
// yellow and red item in light_changes) and a steady-state run.
func benchLights(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench lights", stderr, "bench lights [flags]: the lights job over many open items")
	items := fs.Int("items", 1_000_000, "open cases to create")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the lights runs to this file")
	load := configFlags(fs)
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	cfg, err := load()
	if err != nil {
		return usageError{err}
	}
	log := newLogger(stderr, map[bool]string{true: "debug", false: "warn"}[cfg.LogLevel == "debug"])
	wh, _, stop, err := benchWarehouse(ctx, &cfg, "effidx_bench_lights", 1, log)
	if err != nil {
		return err
	}
	defer stop()
	loc, err := rules.LoadLocation(cfg.Timezone)
	if err != nil {
		return err
	}
	now := time.Now().In(loc)
	fmt.Fprintf(stdout, "inserting %d open cases...\n", *items)
	insStart := time.Now()
	const chunk = 100_000
	batch := &event.Batch{}
	for i := 0; i < *items; i++ {
		e := event.NewEvent()
		e.ID = fmt.Sprintf("bl-%d", i)
		e.Kind, e.Type = event.KindService, event.TypeAccepted
		e.CaseID = fmt.Sprintf("BL-%07d", i)
		e.Department = fmt.Sprintf("D%02d", i%40+1)
		e.Matter, e.Responsible = fmt.Sprintf("M%03d", i%300), "值班员"
		// Accepted over the last 40 days with 1..20 working days promised:
		// a realistic mix of green, yellow and red.
		e.At = now.Add(-time.Duration(i%(40*24)) * time.Hour)
		e.PromisedDays, e.LegalDays = int32(i%20+1), int32(i%20+11)
		batch.Events = append(batch.Events, event.Stored{Event: e, ReceivedAt: e.At, Source: "bench"}) // received as they happened
		if len(batch.Events) == chunk || i == *items-1 {
			if err := wh.WriteBatch(ctx, batch); err != nil {
				return err
			}
			batch.Reset()
		}
	}
	fmt.Fprintf(stdout, "inserted in %.1fs\n", time.Since(insStart).Seconds())
	calendars, err := rules.NewLoader(cfg.Rules, loc, log)
	if err != nil {
		return err
	}
	lr, err := cfg.Rules.LightRules()
	if err != nil {
		return err
	}
	newJob := func(c lights.Config) *lights.Job {
		return lights.NewJob(wh, &lights.RulesJudge{Calendar: calendars.Current, Rules: lr}, c, prometheus.NewRegistry(), log)
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}
	run := func(job *lights.Job, what string) (float64, int, error) {
		start := time.Now()
		if err := job.RunOnce(ctx); err != nil {
			return 0, 0, err
		}
		took := time.Since(start).Seconds()
		g, y, r := job.Counts()
		n := g + y + r
		fmt.Fprintf(stdout, "%-52s %d items (%d red, %d yellow) in %.2fs (%.0f items/s)\n", what+":", n, r, y, took, float64(n)/took)
		return took, n, nil
	}
	// A job that reads everything every run: the first run also records
	// every yellow and red item in light_changes; the second is the cost
	// of an hourly full read.
	fullCfg := cfg.Lights
	fullCfg.FullEvery = 0
	full := newJob(fullCfg)
	first, _, err := run(full, "run 1, full read, records all changes")
	if err != nil {
		return err
	}
	fullRun, _, err := run(full, "run 2, full read")
	if err != nil {
		return err
	}
	// The job as configured (incremental between hourly full reads): one
	// minute's news is 1% of the cases completed and as many new ones.
	job := newJob(cfg.Lights)
	if _, _, err := run(job, "run 3, full read (start of a job)"); err != nil {
		return err
	}
	news := *items / 100
	for i := 0; i < news; i++ {
		done := event.NewEvent()
		done.ID, done.Kind, done.Type = fmt.Sprintf("bl-done-%d", i), event.KindService, event.TypeCompleted
		done.CaseID, done.Department, done.At = fmt.Sprintf("BL-%07d", i*97%*items), fmt.Sprintf("D%02d", i%40+1), now
		fresh := event.NewEvent()
		fresh.ID, fresh.Kind, fresh.Type = fmt.Sprintf("bl-new-%d", i), event.KindService, event.TypeAccepted
		fresh.CaseID, fresh.Department, fresh.At = fmt.Sprintf("BL-NEW-%07d", i), fmt.Sprintf("D%02d", i%40+1), now
		fresh.PromisedDays, fresh.LegalDays = 5, 20
		batch.Events = append(batch.Events, event.Stored{Event: done, ReceivedAt: time.Now(), Source: "bench"},
			event.Stored{Event: fresh, ReceivedAt: time.Now(), Source: "bench"})
	}
	if err := wh.WriteBatch(ctx, batch); err != nil {
		return err
	}
	batch.Reset()
	incr, n, err := run(job, fmt.Sprintf("run 4, incremental (%d new events)", 2*news))
	if err != nil {
		return err
	}
	line, _ := json.Marshal(map[string]any{
		"bench": "lights", "items": n, "run_s": round2(incr), "full_run_s": round2(fullRun), "first_run_s": round2(first),
		"items_per_s": int(float64(n) / incr), "clickhouse": wh.ServerVersion(),
	})
	fmt.Fprintln(stdout, string(line))
	return nil
}

func round2(f float64) float64 { return float64(int(f*100+0.5)) / 100 }
