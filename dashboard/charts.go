package dashboard

import (
	"encoding/json"
	"math"

	"github.com/go-echarts/go-echarts/v2/charts"
	"github.com/go-echarts/go-echarts/v2/opts"
)

// Chart options are built with go-echarts and sent as JSON: the pages'
// script (assets/dashboard.js) hands them to setOption. A nil option is
// a chart with nothing to show: the page shows its empty state instead of
// a blank chart.

// option is a chart's ECharts option.
type option = map[string]any

type echartsChart interface {
	Validate()
	JSON() map[string]any
}

// optionOf finishes a chart and returns its option as plain JSON values,
// so that what go-echarts has no field for can still be set.
func optionOf(c echartsChart) option {
	c.Validate()
	b, err := json.Marshal(c.JSON())
	if err != nil {
		// Only a NaN or a function could fail here; num keeps both out.
		panic("dashboard: chart option: " + err.Error())
	}
	var o option
	_ = json.Unmarshal(b, &o)
	return o
}

// set sets key in the i-th element of o[list] (an axis list), or in
// o[list] itself when it is an object.
func set(o option, list string, i int, key string, v any) {
	switch l := o[list].(type) {
	case []any:
		if i < len(l) {
			if m, ok := l[i].(map[string]any); ok {
				m[key] = v
			}
		}
	case map[string]any:
		l[key] = v
	}
}

// everyLabel shows every category label (departments, matters): ECharts
// would otherwise drop some when they are dense.
func everyLabel(o option, axis string) option {
	set(o, axis, 0, "axisLabel", map[string]any{"interval": 0})
	return o
}

// initOpts points go-echarts at the bundle served by effidx itself.
func initOpts() charts.GlobalOpts {
	return charts.WithInitializationOpts(opts.Initialization{AssetsHost: assetsHost, BackgroundColor: "transparent"})
}

// echartsScripts is the script list go-echarts derives from AssetsHost:
// /assets/echarts.min.js, never a CDN.
func echartsScripts() []string {
	b := charts.NewBar()
	b.SetGlobalOptions(initOpts())
	b.Validate()
	return append([]string(nil), b.JSAssets.Values...)
}

// num is a data value: a NaN (n/a) is "-", which ECharts draws as a gap,
// never as 0 (and encoding/json cannot encode NaN).
func num(v float64, decimals int) any {
	if !finite(v) {
		return "-"
	}
	p := math.Pow(10, float64(decimals))
	return math.Round(v*p) / p
}

// Colours of the lights and the three lines.
const (
	colorRed      = "#ef4444"
	colorYellow   = "#f59e0b"
	colorLegal    = "#94a3b8"
	colorPromised = "#3b82f6"
	colorActual   = "#22c55e"
)

func grid() charts.GlobalOpts {
	return charts.WithGridOpts(opts.Grid{Left: "2%", Right: "6%", Top: "8%", Bottom: "2%", ContainLabel: opts.Bool(true)})
}

// rankBar is a horizontal ranking, best on top, each bar coloured by its
// band.
func rankBar(names []string, totals []float64) option {
	if len(names) == 0 {
		return nil
	}
	data := make([]opts.BarData, len(totals))
	for i, t := range totals {
		_, c := band(t)
		data[i] = opts.BarData{Value: num(t, 1), ItemStyle: &opts.ItemStyle{Color: c}}
	}
	b := charts.NewBar()
	b.SetGlobalOptions(initOpts(), grid(),
		charts.WithTooltipOpts(opts.Tooltip{Show: opts.Bool(true), Trigger: "axis"}),
		charts.WithLegendOpts(opts.Legend{Show: opts.Bool(false)}),
		charts.WithXAxisOpts(opts.XAxis{Type: "value", Min: 0, Max: 100}),
		charts.WithYAxisOpts(opts.YAxis{Type: "category", Inverse: opts.Bool(true)}),
	)
	b.SetXAxis(names).AddSeries("改革效能指数", data,
		charts.WithLabelOpts(opts.Label{Show: opts.Bool(true), Position: "right", Formatter: "{c}"})).XYReversal()
	return everyLabel(optionOf(b), "yAxis")
}

// lineSeries is one line of a line chart.
type lineSeries struct {
	name     string
	color    string
	values   []float64
	decimals int
}

// lines is a line chart over categories (periods, usually); nil when
// every value is n/a.
func lines(x []string, yName string, scale bool, series ...lineSeries) option {
	has := false
	for _, s := range series {
		for _, v := range s.values {
			has = has || finite(v)
		}
	}
	if !has {
		return nil
	}
	l := charts.NewLine()
	l.SetGlobalOptions(initOpts(), grid(),
		charts.WithGridOpts(opts.Grid{Left: "2%", Right: "4%", Top: "16%", Bottom: "2%", ContainLabel: opts.Bool(true)}),
		charts.WithTooltipOpts(opts.Tooltip{Show: opts.Bool(true), Trigger: "axis"}),
		charts.WithLegendOpts(opts.Legend{Show: opts.Bool(true), Top: "0"}),
		charts.WithYAxisOpts(opts.YAxis{Type: "value", Name: yName, Scale: opts.Bool(scale)}),
	)
	l.SetXAxis(x)
	for _, s := range series {
		data := make([]opts.LineData, len(s.values))
		for i, v := range s.values {
			data[i] = opts.LineData{Value: num(v, s.decimals)}
		}
		l.AddSeries(s.name, data,
			charts.WithLineChartOpts(opts.LineChart{ConnectNulls: opts.Bool(false), ShowSymbol: opts.Bool(true)}),
			charts.WithItemStyleOpts(opts.ItemStyle{Color: s.color}),
			charts.WithLineStyleOpts(opts.LineStyle{Color: s.color, Width: 2}))
	}
	return optionOf(l)
}

// barSeries is one series of a grouped or stacked bar chart.
type barSeries struct {
	name   string
	color  string
	values []float64
}

// hbars is a horizontal bar chart, first category on top; stack stacks
// the series (the light board).
func hbars(cats []string, stack string, decimals int, series ...barSeries) option {
	if len(cats) == 0 {
		return nil
	}
	b := charts.NewBar()
	b.SetGlobalOptions(initOpts(),
		charts.WithGridOpts(opts.Grid{Left: "2%", Right: "6%", Top: "12%", Bottom: "2%", ContainLabel: opts.Bool(true)}),
		charts.WithTooltipOpts(opts.Tooltip{Show: opts.Bool(true), Trigger: "axis"}),
		charts.WithLegendOpts(opts.Legend{Show: opts.Bool(true), Top: "0"}),
		charts.WithXAxisOpts(opts.XAxis{Type: "value"}),
		charts.WithYAxisOpts(opts.YAxis{Type: "category", Inverse: opts.Bool(true)}),
	)
	b.SetXAxis(cats)
	for _, s := range series {
		data := make([]opts.BarData, len(s.values))
		for i, v := range s.values {
			data[i] = opts.BarData{Value: num(v, decimals)}
		}
		b.AddSeries(s.name, data, charts.WithItemStyleOpts(opts.ItemStyle{Color: s.color}),
			charts.WithBarChartOpts(opts.BarChart{Stack: stack}))
	}
	b.XYReversal()
	return everyLabel(optionOf(b), "yAxis")
}

// radar compares a department's first-level scores with the city mean.
func radar(names []string, own, city []float64) option {
	if len(names) == 0 {
		return nil
	}
	ind := make([]*opts.Indicator, len(names))
	for i, n := range names {
		ind[i] = &opts.Indicator{Name: n, Max: 100, Min: 0}
	}
	vals := func(vs []float64) []any {
		out := make([]any, len(vs))
		for i, v := range vs {
			out[i] = num(v, 1)
		}
		return out
	}
	r := charts.NewRadar()
	r.SetGlobalOptions(initOpts(),
		charts.WithRadarComponentOpts(opts.RadarComponent{Indicator: ind, Shape: "polygon", SplitNumber: 4}),
		charts.WithTooltipOpts(opts.Tooltip{Show: opts.Bool(true)}),
		charts.WithLegendOpts(opts.Legend{Show: opts.Bool(true), Bottom: "0"}),
	)
	r.AddSeries("本部门", []opts.RadarData{{Name: "本部门", Value: vals(own)}},
		charts.WithItemStyleOpts(opts.ItemStyle{Color: colorPromised}),
		charts.WithAreaStyleOpts(opts.AreaStyle{Opacity: opts.Float(0.25)}))
	r.AddSeries("全市平均", []opts.RadarData{{Name: "全市平均", Value: vals(city)}},
		charts.WithItemStyleOpts(opts.ItemStyle{Color: colorYellow}))
	o := optionOf(r)
	set(o, "radar", 0, "radius", "62%")
	return o
}
