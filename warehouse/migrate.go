package warehouse

import (
	"context"
	"fmt"
	"strings"
	"time"
)

func (w *Warehouse) render() Render {
	return Render{Database: w.cfg.Database, Timezone: w.cfg.Timezone, Cluster: w.cfg.Cluster}
}

// Migrate creates the database and applies every migration not yet
// recorded. It is safe to run twice and from several replicas at once:
// statements are idempotent and a double record collapses.
func (w *Warehouse) Migrate(ctx context.Context) (applied []int, err error) {
	r := w.render()
	for _, q := range []string{createDatabase(r), migrationsTable(r)} {
		if err := w.conn.Exec(ctx, q); err != nil {
			return nil, fmt.Errorf("migrate: %s: %w", firstLine(q), err)
		}
	}
	done, err := w.appliedMigrations(ctx)
	if err != nil {
		return nil, err
	}
	for _, m := range Migrations {
		sum := m.Checksum(r)
		if got, ok := done[m.Version]; ok {
			if got != sum {
				return applied, fmt.Errorf("migration %d (%s) was applied with checksum %s but this binary has %s: a released migration was edited; add a new one instead",
					m.Version, m.Name, got, sum)
			}
			continue
		}
		for _, q := range m.Statements(r) {
			if err := w.conn.Exec(ctx, q); err != nil {
				return applied, fmt.Errorf("migration %d (%s): %s: %w", m.Version, m.Name, firstLine(q), err)
			}
		}
		if err := w.record(ctx, m, sum); err != nil {
			return applied, fmt.Errorf("record migration %d: %w", m.Version, err)
		}
		w.log.Info("migration applied", "version", m.Version, "name", m.Name)
		applied = append(applied, m.Version)
	}
	return applied, nil
}

// record notes an applied migration. A batch, not INSERT ... VALUES with
// bound parameters: 18.16 waits for a data block after such an Exec.
func (w *Warehouse) record(ctx context.Context, m Migration, sum string) error {
	b, err := w.conn.PrepareBatch(ctx, fmt.Sprintf("INSERT INTO %s.schema_migrations (version, name, checksum, applied_at)", w.cfg.Database))
	if err != nil {
		return err
	}
	if err := b.Append(uint32(m.Version), m.Name, sum, time.Now()); err != nil {
		return err
	}
	return b.Send()
}

func (w *Warehouse) appliedMigrations(ctx context.Context) (map[int]string, error) {
	rows, err := w.conn.Query(ctx, fmt.Sprintf("SELECT version, argMax(checksum, applied_at) FROM %s.schema_migrations GROUP BY version", w.cfg.Database))
	if err != nil {
		return nil, fmt.Errorf("read applied migrations: %w", err)
	}
	defer rows.Close()
	done := map[int]string{}
	for rows.Next() {
		var v uint32
		var sum string
		if err := rows.Scan(&v, &sum); err != nil {
			return nil, fmt.Errorf("read applied migrations: %w", err)
		}
		done[int(v)] = sum
	}
	return done, rows.Err()
}

// Pending reports how many migrations this binary has that the server has
// not recorded (readiness needs 0).
func (w *Warehouse) Pending(ctx context.Context) (int, error) {
	done, err := w.appliedMigrations(ctx)
	if err != nil {
		return len(Migrations), err
	}
	n := 0
	for _, m := range Migrations {
		if _, ok := done[m.Version]; !ok {
			n++
		}
	}
	return n, nil
}

// SchemaSQL renders the whole schema, for `effidx migrate --print` and the
// golden test.
func SchemaSQL(r Render) []string {
	out := []string{createDatabase(r), migrationsTable(r)}
	for _, m := range Migrations {
		stmts := m.Statements(r)
		stmts[0] = fmt.Sprintf("-- migration %d: %s\n%s", m.Version, m.Name, stmts[0])
		out = append(out, stmts...)
	}
	return out
}

// firstLine names a statement in errors: its first line that is not a
// comment.
func firstLine(q string) string {
	for _, l := range strings.Split(q, "\n") {
		if !strings.HasPrefix(l, "--") {
			return l
		}
	}
	return q
}
