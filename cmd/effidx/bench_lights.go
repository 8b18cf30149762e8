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
	wh, _, stop, err := benchWarehouse(ctx, &cfg, "effidx_bench_lights", log)
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
		batch.Events = append(batch.Events, event.Stored{Event: e, ReceivedAt: now, Source: "bench"})
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
	job := lights.NewJob(wh, &lights.RulesJudge{Calendar: calendars.Current, Rules: lr}, prometheus.NewRegistry(), log)
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
	var runs []float64
	for i := range 3 {
		start := time.Now()
		if err := job.RunOnce(ctx); err != nil {
			return err
		}
		runs = append(runs, time.Since(start).Seconds())
		snap, _ := job.Snapshot()
		fmt.Fprintf(stdout, "run %d: %d items in %.2fs (%.0f items/s)%s\n", i+1, len(snap), runs[i], float64(len(snap))/runs[i],
			map[bool]string{true: " — first run, records every yellow/red item", false: ""}[i == 0])
	}
	snap, _ := job.Snapshot()
	line, _ := json.Marshal(map[string]any{
		"bench": "lights", "items": len(snap), "run_s": round2(runs[len(runs)-1]), "first_run_s": round2(runs[0]),
		"items_per_s": int(float64(len(snap)) / runs[len(runs)-1]), "clickhouse": wh.ServerVersion(),
	})
	fmt.Fprintln(stdout, string(line))
	return nil
}

func round2(f float64) float64 { return float64(int(f*100+0.5)) / 100 }
