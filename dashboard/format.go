package dashboard

import (
	"math"
	"strconv"
	"strings"
	"time"

	"effidx/indices"
)

// Numbers for people: 97.0%, 3.2 个工作日, 12,345 件. A missing value (n/a,
// NaN) is a dash, never 0.
const dash = "—"

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// fixed writes v with d decimals, without "-0.0".
func fixed(v float64, d int) string {
	s := strconv.FormatFloat(v, 'f', d, 64)
	if strings.Trim(s, "-0.") == "" {
		s = strings.TrimPrefix(s, "-")
	}
	return s
}

// pct writes a ratio as a percentage: 0.97 → 97.0%.
func pct(v float64) string {
	if !finite(v) {
		return dash
	}
	return fixed(v*100, 1) + "%"
}

// score writes a 0..100 score: 85.3.
func score(v float64) string {
	if !finite(v) {
		return dash
	}
	return fixed(v, 1)
}

// points writes index points (weights, deductions): 1.25.
func points(v float64) string {
	if !finite(v) {
		return dash
	}
	return fixed(v, 2)
}

// signed writes a change: +1.2 / -0.8.
func signed(v float64) string {
	if !finite(v) {
		return dash
	}
	s := fixed(v, 1)
	if v > 0 && s != "0.0" {
		return "+" + s
	}
	return s
}

// count writes a whole number with thousands separators: 12,345.
func count(v float64) string {
	if !finite(v) {
		return dash
	}
	n := int64(math.Round(v))
	s := strconv.FormatInt(max(n, -n), 10)
	var b strings.Builder
	if n < 0 {
		b.WriteByte('-')
	}
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// amount writes a numerator: whole numbers as counts, sums of days or
// hours with one decimal.
func amount(v float64) string {
	if finite(v) && v != math.Trunc(v) {
		return fixed(v, 1)
	}
	return count(v)
}

// value writes an indicator's value in its unit.
func value(v float64, u indices.Unit) string {
	if !finite(v) {
		return dash
	}
	switch u {
	case indices.Ratio:
		return pct(v)
	case indices.WorkingDays:
		return fixed(v, 1) + " 个工作日"
	case indices.Hours:
		return fixed(v, 1) + " 小时"
	case indices.ScoreUnit:
		return fixed(v, 1) + " 分"
	}
	return fixed(v, 2)
}

// days writes working days: 3.2 个工作日.
func days(v float64) string {
	if !finite(v) {
		return dash
	}
	return fixed(v, 1) + " 个工作日"
}

// clock writes an instant in the calendar's zone to the minute.
func clock(t time.Time, loc *time.Location) string {
	if t.IsZero() || t.Unix() <= 0 {
		return dash
	}
	return t.In(loc).Format("2006-01-02 15:04")
}

// clockPtr is clock for an optional instant.
func clockPtr(t *time.Time, loc *time.Location) string {
	if t == nil {
		return dash
	}
	return clock(*t, loc)
}

// periodName says a period in Chinese: 2026年10月, 2026年第4季度.
func periodName(p indices.Period) string {
	switch p.Kind {
	case indices.Day:
		return strconv.Itoa(p.Y) + "年" + strconv.Itoa(p.N) + "月" + strconv.Itoa(p.D) + "日"
	case indices.Month:
		return strconv.Itoa(p.Y) + "年" + strconv.Itoa(p.N) + "月"
	case indices.Quarter:
		return strconv.Itoa(p.Y) + "年第" + strconv.Itoa(p.N) + "季度"
	}
	return strconv.Itoa(p.Y) + "年"
}

// lightName is a light's Chinese name.
func lightName(l string) string {
	switch l {
	case "red":
		return "红灯"
	case "yellow":
		return "黄灯"
	case "green":
		return "绿灯"
	}
	return l
}

// kindNames are the Chinese names of the kinds of open items.
var kindNames = map[string]string{
	"service":   "办件",
	"internal":  "机关内部事项",
	"scenario":  "场景事件",
	"ticket":    "12345 诉求",
	"task":      "改革任务",
	"step":      "办理环节",
	"milestone": "任务节点",
}

func kindName(k string) string {
	if n, ok := kindNames[k]; ok {
		return n
	}
	return k
}

// band is a score's band: the colour of a ranking bar and its label.
func band(total float64) (name, color string) {
	switch {
	case !finite(total):
		return "无数据", "#6b7280"
	case total >= 90:
		return "优秀", "#22c55e"
	case total >= 80:
		return "良好", "#3b82f6"
	case total >= 70:
		return "一般", "#f59e0b"
	}
	return "待改进", "#ef4444"
}
