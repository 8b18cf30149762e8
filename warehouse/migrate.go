package warehouse

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// RenderFor is how cfg's schema is rendered.
func RenderFor(cfg Config) Render {
	return Render{Database: cfg.Database, Timezone: cfg.Timezone, Cluster: cfg.Cluster, NoReplication: cfg.Cluster != "" && !cfg.Replicated}
}

func (w *Warehouse) render() Render { return RenderFor(w.cfg) }

// Migrate creates the database and applies every migration not yet
// recorded. It is safe to run twice and from several replicas at once:
// statements are idempotent and a double record collapses.
//
// In a cluster every server records the migrations in its own
// schema_migrations, so that effidx connected to any of them finds the
// schema current (/readyz) without running the DDL again. With replication
// the DDL runs once, ON CLUSTER (through Keeper), and is then recorded on
// the other servers. A cluster without replication has no distributed DDL
// (it needs Keeper too), so Migrate does what ON CLUSTER would: it runs the
// statements on every host the server lists for the cluster in
// system.clusters.
func (w *Warehouse) Migrate(ctx context.Context) (applied []int, err error) {
	r := w.render()
	if r.Cluster == "" {
		return w.migrateOn(ctx, w.conn, w.cfg.Addr, r)
	}
	if !r.perHost() {
		if applied, err = w.migrateOn(ctx, w.conn, w.cfg.Addr, r); err != nil {
			return applied, err
		}
	}
	seen := map[int]bool{}
	for _, v := range applied {
		seen[v] = true
	}
	// Every host by its own connection, the one we are connected to
	// included: system.clusters cannot say which that is (18.16's is_local
	// means "the shard has a local replica").
	err = w.EachHost(ctx, func(conn driver.Conn, h ClusterHost) error {
		if !r.perHost() {
			// The ON CLUSTER DDL succeeded everywhere; a host that cannot
			// take the record only costs its effidx an idempotent rerun.
			if err := recordMissing(ctx, conn, w.cfg.Database, r); err != nil {
				w.log.Warn("migrations applied ON CLUSTER but not recorded on this host", "cluster", w.cfg.Cluster, "host", h.Addr, "err", err)
			}
			return nil
		}
		got, err := w.migrateOn(ctx, conn, h.Addr, r)
		for _, v := range got {
			if !seen[v] {
				seen[v] = true
				applied = append(applied, v)
			}
		}
		return err
	})
	if err != nil {
		return applied, fmt.Errorf("migrate: %w", err)
	}
	sort.Ints(applied)
	return applied, nil
}

// recordMissing records on conn's server every migration it has not
// recorded yet.
func recordMissing(ctx context.Context, conn driver.Conn, db string, r Render) error {
	done, err := appliedMigrations(ctx, conn, db)
	if err != nil {
		return err
	}
	for _, m := range Migrations {
		if _, ok := done[m.Version]; !ok {
			if err := record(ctx, conn, db, m, m.Checksum(r)); err != nil {
				return fmt.Errorf("record migration %d: %w", m.Version, err)
			}
		}
	}
	return nil
}

// ClusterHost is one server of the configured cluster.
type ClusterHost struct {
	Shard, Replica int
	Addr           string // host:port of the native protocol, as the cluster config names it
}

// ClusterHosts lists the servers of the configured cluster as the
// connected server knows them (its remote_servers).
func (w *Warehouse) ClusterHosts(ctx context.Context) ([]ClusterHost, error) {
	rows, err := w.conn.Query(ctx, "SELECT shard_num, replica_num, host_name, port FROM system.clusters WHERE cluster = ? ORDER BY shard_num, replica_num", w.cfg.Cluster)
	if err != nil {
		return nil, fmt.Errorf("list hosts of cluster %s: %w", w.cfg.Cluster, err)
	}
	defer rows.Close()
	var hosts []ClusterHost
	for rows.Next() {
		var shard, replica uint32
		var host string
		var port uint16
		if err := rows.Scan(&shard, &replica, &host, &port); err != nil {
			return nil, fmt.Errorf("list hosts of cluster %s: %w", w.cfg.Cluster, err)
		}
		hosts = append(hosts, ClusterHost{Shard: int(shard), Replica: int(replica),
			Addr: net.JoinHostPort(host, strconv.Itoa(int(port)))})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list hosts of cluster %s: %w", w.cfg.Cluster, err)
	}
	if len(hosts) == 0 {
		return nil, fmt.Errorf("cluster %q is not in the remote_servers of ClickHouse at %s (system.clusters)", w.cfg.Cluster, w.cfg.Addr)
	}
	return hosts, nil
}

// migrateOn applies the pending migrations through conn (addr names it in
// logs).
func (w *Warehouse) migrateOn(ctx context.Context, conn driver.Conn, addr string, r Render) (applied []int, err error) {
	for _, q := range []string{createDatabase(r), migrationsTable(r)} {
		if err := conn.Exec(ctx, q); err != nil {
			return nil, fmt.Errorf("migrate: %s: %w", firstLine(q), err)
		}
	}
	done, err := appliedMigrations(ctx, conn, w.cfg.Database)
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
			if err := conn.Exec(ctx, q); err != nil {
				return applied, fmt.Errorf("migration %d (%s): %s: %w", m.Version, m.Name, firstLine(q), err)
			}
		}
		if err := record(ctx, conn, w.cfg.Database, m, sum); err != nil {
			return applied, fmt.Errorf("record migration %d: %w", m.Version, err)
		}
		w.log.Info("migration applied", "version", m.Version, "name", m.Name, "clickhouse", addr)
		applied = append(applied, m.Version)
	}
	return applied, nil
}

// record notes an applied migration. A batch, not INSERT ... VALUES with
// bound parameters: 18.16 waits for a data block after such an Exec.
func record(ctx context.Context, conn driver.Conn, db string, m Migration, sum string) error {
	b, err := conn.PrepareBatch(ctx, fmt.Sprintf("INSERT INTO %s.schema_migrations (version, name, checksum, applied_at)", db))
	if err != nil {
		return err
	}
	if err := b.Append(uint32(m.Version), m.Name, sum, time.Now()); err != nil {
		return err
	}
	return b.Send()
}

func appliedMigrations(ctx context.Context, conn driver.Conn, db string) (map[int]string, error) {
	rows, err := conn.Query(ctx, fmt.Sprintf("SELECT version, argMax(checksum, applied_at) FROM %s.schema_migrations GROUP BY version", db))
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
	done, err := appliedMigrations(ctx, w.conn, w.cfg.Database)
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
	if r.perHost() {
		out[0] = fmt.Sprintf("-- cluster %s without replication: no distributed DDL (it needs Keeper);\n-- effidx migrate runs these statements on every host of the cluster\n%s", r.Cluster, out[0])
	}
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
