package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"effidx/warehouse"
)

func cmdMigrate(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("migrate", stderr, "migrate [--print] [--clickhouse-cluster NAME [--clickhouse-replicated=false]] [flags]: create or upgrade the schema")
	print := fs.Bool("print", false, "print the SQL instead of running it (no server needed)")
	load := configFlags(fs)
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	cfg, err := load()
	if err != nil {
		return usageError{err}
	}
	if *print {
		fmt.Fprintln(stdout, strings.Join(warehouse.SchemaSQL(warehouse.RenderFor(cfg.ClickHouse)), ";\n\n")+";")
		return nil
	}
	log := newLogger(stderr, cfg.LogLevel)
	wh, stop, err := clickhouse(ctx, &cfg, log)
	if err != nil {
		return err
	}
	defer stop()
	applied, err := wh.Migrate(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "migrations applied: %v; schema at version %d on ClickHouse %s\n", applied, warehouse.Migrations[len(warehouse.Migrations)-1].Version, wh.ServerVersion())
	return nil
}
