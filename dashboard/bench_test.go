package dashboard

import (
	"testing"
)

// BenchmarkPages measures each page's handler over the simulated city,
// everything cached as in steady state (no ClickHouse in the loop).
func BenchmarkPages(b *testing.B) {
	c := newCity(b)
	for _, path := range []string{"/", "/data/cockpit", "/rankings?period=2026-09", "/departments/D01?period=2026-09", "/lights"} {
		c.get(b, path, leaderToken)
		b.Run(path, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if w := c.get(b, path, leaderToken); w.Code != 200 {
					b.Fatal(w.Code)
				}
			}
		})
	}
}
