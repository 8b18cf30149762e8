package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"effidx/indices"
	"effidx/rules"
)

func cmdCompute(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("compute", stderr, "compute --period 2026-10 [flags]: compute and store one period now, then print its ranking")
	period := fs.String("period", "", "the period: a day 2026-10-05, a month 2026-10, a quarter 2026-Q4 or a year 2026 (required)")
	subject := fs.String("subject", "department", "ranking to print: department or region")
	asJSON := fs.Bool("json", false, "print the ranked score cards as JSON instead of a table")
	catalog := fs.String("catalog", "", "indicator catalog file (default: indices.catalog of the config, else the embedded one)")
	load := configFlags(fs)
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if *period == "" {
		return usageError{errors.New("compute: --period is required, e.g. --period 2026-10")}
	}
	p, err := indices.ParsePeriod(*period)
	if err != nil {
		return usageError{err}
	}
	if *subject != indices.SubjectDepartment && *subject != indices.SubjectRegion {
		return usageError{fmt.Errorf("compute: --subject %q: want department or region", *subject)}
	}
	cfg, err := load()
	if err != nil {
		return usageError{err}
	}
	if *catalog != "" {
		cfg.Indices.Catalog = *catalog
	}
	log := newLogger(stderr, cfg.LogLevel)
	catalogs, err := indices.NewCatalogSource(cfg.Indices.Catalog, log)
	if err != nil {
		return usageError{fmt.Errorf("compute: %w", err)}
	}
	loc, err := rules.LoadLocation(cfg.Timezone)
	if err != nil {
		return usageError{err}
	}
	calendars, err := rules.NewLoader(cfg.Rules, loc, log)
	if err != nil {
		return fmt.Errorf("load calendar: %w", err)
	}
	wh, stop, err := clickhouse(ctx, &cfg, log)
	if err != nil {
		return err
	}
	defer stop()
	if _, err := wh.Migrate(ctx); err != nil {
		return err
	}
	job := indices.NewJob(wh, catalogs, calendars.Current, cfg.Indices, prometheus.NewRegistry(), log)
	start := time.Now()
	c, st, err := job.ComputePeriod(ctx, p)
	if err != nil {
		return err
	}
	manual, err := indices.NewManual(wh, catalogs.Current(), nil).Latest(ctx, p)
	if err != nil {
		return err
	}
	var ranked []*indices.Card
	for _, cd := range indices.Cards(catalogs.Current(), c.Results, manual) {
		if cd.SubjectType == *subject {
			ranked = append(ranked, cd)
		}
	}
	indices.Rank(ranked)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(ranked)
	}
	fmt.Fprintf(stdout, "%s computed in %.2fs (%d queries, %d rows read by ClickHouse); catalog %s, calendar %s\n\n",
		p, time.Since(start).Seconds(), st.Queries, st.RowsRead, c.Catalog, c.Calendar)
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "rank\t%s\tindex\t", *subject)
	for _, d := range catalogs.Current().Dimensions {
		fmt.Fprintf(tw, "%s\t", d.ID)
	}
	fmt.Fprintln(tw)
	for _, cd := range ranked {
		rank := "-"
		if cd.Rank > 0 {
			rank = fmt.Sprint(cd.Rank)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t", rank, cd.Subject, score(cd.Total))
		for _, d := range cd.Dimensions {
			fmt.Fprintf(tw, "%s\t", score(d.Score))
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

func score(v float64) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", v)
}
