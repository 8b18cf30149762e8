package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"effidx/simulate"
)

type simFlags struct {
	days, casesPerDay int
	seed              int64
	start             string
	malformed         float64
}

func (f *simFlags) config(tz string) (simulate.Config, error) {
	cfg := simulate.DefaultConfig()
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return cfg, fmt.Errorf("timezone %q: %w", tz, err)
	}
	cfg.Location = loc
	cfg.Seed, cfg.Days, cfg.CasesPerDay, cfg.MalformedShare = f.seed, f.days, f.casesPerDay, f.malformed
	if f.start == "" {
		// Default: the window ends today, so the newest cases are still open.
		today := time.Now().In(loc)
		cfg.Start = time.Date(today.Year(), today.Month(), today.Day(), 0, 0, 0, 0, loc).AddDate(0, 0, -f.days+1)
		cfg.End = time.Now()
	} else {
		d, err := time.ParseInLocation("2006-01-02", f.start, loc)
		if err != nil {
			return cfg, fmt.Errorf("--start %q: want a date like 2026-08-01", f.start)
		}
		cfg.Start = d
	}
	return cfg, cfg.Validate()
}

func (f *simFlags) bind(fs interface {
	IntVar(*int, string, int, string)
	Int64Var(*int64, string, int64, string)
	StringVar(*string, string, string, string)
	Float64Var(*float64, string, float64, string)
}, days, perDay int) {
	def := simulate.DefaultConfig()
	fs.IntVar(&f.days, "days", days, "days of activity to simulate")
	fs.IntVar(&f.casesPerDay, "cases-per-day", perDay, "service cases per day across the city (other kinds scale with it)")
	fs.Int64Var(&f.seed, "seed", 1, "random seed (the same seed gives the same stream)")
	fs.StringVar(&f.start, "start", "", "first day, YYYY-MM-DD (default: the window ends now)")
	fs.Float64Var(&f.malformed, "malformed", def.MalformedShare, "share of malformed events")
}

func cmdSimulate(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("simulate", stderr, "simulate [--out FILE | --url URL] [flags]: a simulated city's event stream as NDJSON")
	var sf simFlags
	sf.bind(fs, 90, simulate.DefaultConfig().CasesPerDay)
	out := fs.String("out", "-", "NDJSON file to write (- = standard output)")
	url := fs.String("url", "", "collector URL to POST to instead, e.g. http://127.0.0.1:8080/api/v1/events")
	token := fs.String("token", os.Getenv("EFFIDX_TOKEN"), "ingest token for --url (env EFFIDX_TOKEN)")
	rate := fs.Float64("rate", 0, "events per second for --url (0 = as fast as accepted)")
	batch := fs.Int("batch", 1000, "events per request for --url")
	conc := fs.Int("concurrency", 4, "requests in flight for --url")
	tz := fs.String("timezone", "Asia/Shanghai", "time zone of the simulated city")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	cfg, err := sf.config(*tz)
	if err != nil {
		return usageError{err}
	}
	if *url == "" {
		w := stdout
		if *out != "-" {
			f, err := os.Create(*out)
			if err != nil {
				return fmt.Errorf("simulate: %w", err)
			}
			defer f.Close()
			w = f
		}
		bw := bufio.NewWriterSize(w, 1<<20)
		st, err := simulate.Generate(cfg, bw)
		if err != nil {
			return err
		}
		if err := bw.Flush(); err != nil {
			return fmt.Errorf("simulate: write: %w", err)
		}
		fmt.Fprintf(stderr, "simulated %d events (%d malformed) of %d cases\n", st.Events, st.Malformed, st.Cases)
		return nil
	}
	p := newPoster(*url, *token, *batch, *conc, *rate)
	st, err := postSimulation(ctx, cfg, p)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "posted %d events (%d malformed) in %d requests: accepted %d, duplicates %d, rejected %d, retries %d\n",
		st.Events, st.Malformed, p.requests.Load(), p.accepted.Load(), p.duplicates.Load(), p.rejected.Load(), p.retries.Load())
	return nil
}

// postSimulation streams a generated city through p.
func postSimulation(ctx context.Context, cfg simulate.Config, p *poster) (simulate.Stats, error) {
	pr, pw := io.Pipe()
	var st simulate.Stats
	genErr := make(chan error, 1)
	go func() {
		bw := bufio.NewWriterSize(pw, 1<<20)
		var err error
		st, err = simulate.Generate(cfg, bw)
		if err == nil {
			err = bw.Flush()
		}
		pw.CloseWithError(err)
		genErr <- err
	}()
	err := p.post(ctx, pr)
	pr.CloseWithError(io.ErrClosedPipe)
	if gerr := <-genErr; err == nil && gerr != nil && gerr != io.ErrClosedPipe {
		err = gerr
	}
	return st, err
}
