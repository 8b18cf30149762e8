package warehouse

import (
	"context"
	"fmt"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// LocalTable is the table that holds the rows of table on each server:
// table itself on a single node, table_local under a cluster's
// Distributed table.
func (w *Warehouse) LocalTable(table string) string {
	if w.cfg.Cluster == "" {
		return table
	}
	return table + "_local"
}

// EachHost runs fn on every server of the cluster, each by its own
// connection, or on the connected server when there is no cluster. It is
// for what a Distributed table does not pass on to the shards: TRUNCATE,
// OPTIMIZE, system.parts (with LocalTable names).
func (w *Warehouse) EachHost(ctx context.Context, fn func(conn driver.Conn, h ClusterHost) error) error {
	if w.cfg.Cluster == "" {
		return fn(w.conn, ClusterHost{Shard: 1, Replica: 1, Addr: w.cfg.Addr})
	}
	hosts, err := w.ClusterHosts(ctx)
	if err != nil {
		return err
	}
	for _, h := range hosts {
		conn, err := clickhouse.Open(connOptions(w.cfg, h.Addr, false))
		if err != nil {
			return fmt.Errorf("cluster %s: open shard %d host %s: %w", w.cfg.Cluster, h.Shard, h.Addr, err)
		}
		err = fn(conn, h)
		conn.Close()
		if err != nil {
			return fmt.Errorf("cluster %s: shard %d host %s: %w", w.cfg.Cluster, h.Shard, h.Addr, err)
		}
	}
	return nil
}
