// Package dashboard serves the "city brain" pages (issue 5, SPEC 1 and
// 6): the wall-screen cockpit, the rankings, each department's
// self-portrait with its deductions, the lights, a matter's three lines
// and the inspectors' manual entry.
//
// Pages are html/template, server-rendered from the index API's cached
// results (indices.API) and the lights job's snapshot; they never query
// ClickHouse per chart. Charts are ECharts options built with go-echarts
// and served as JSON from /data/...: a self-served script
// (/assets/dashboard.js) creates the ECharts instances and calls
// setOption, so the Content-Security-Policy allows scripts from the
// server only, and the cockpit refreshes by fetching JSON again rather
// than reloading. ECharts itself is embedded in the binary (go generate
// fetches the pinned npm package): the city's network reaches no CDN.
package dashboard

//go:generate go run ./internal/fetchassets -web web -assets assets
