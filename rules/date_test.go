package rules

import (
	"testing"
	"time"
)

func TestDateMatchesTimePackageFrom1900To2200(t *testing.T) {
	start := time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 300*366; i++ {
		tm := start.AddDate(0, 0, i)
		y, m, d := tm.Date()
		want := Date(tm.Unix() / 86400)
		got := NewDate(y, m, d)
		if got != want {
			t.Fatalf("NewDate(%d-%02d-%02d) = %d, want %d", y, m, d, got, want)
		}
		if gy, gm, gd := got.YMD(); gy != y || gm != m || gd != d {
			t.Fatalf("%d.YMD() = %d-%d-%d, want %d-%d-%d", got, gy, gm, gd, y, m, d)
		}
		if got.Weekday() != tm.Weekday() {
			t.Fatalf("%s weekday %s, want %s", got, got.Weekday(), tm.Weekday())
		}
	}
}

func TestDateParseAndFormat(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    string
		wantErr bool
	}{
		{in: "2024-09-29", want: "2024-09-29"},
		{in: "1970-01-01", want: "1970-01-01"},
		{in: "1969-12-31", want: "1969-12-31"},
		{in: "2024-02-29", want: "2024-02-29"},
		{in: "2023-02-29", wantErr: true},
		{in: "2024-9-29", wantErr: true},
		{in: "2024-09-29T00:00:00+08:00", wantErr: true},
		{in: "", wantErr: true},
	} {
		d, err := ParseDate(tc.in)
		if (err != nil) != tc.wantErr {
			t.Errorf("ParseDate(%q) error %v, want error %v", tc.in, err, tc.wantErr)
			continue
		}
		if err == nil && d.String() != tc.want {
			t.Errorf("ParseDate(%q) = %s, want %s", tc.in, d, tc.want)
		}
	}
	if got := NewDate(2024, 2, 30); got.String() != "2024-03-01" {
		t.Errorf("NewDate(2024, 2, 30) = %s, want normalised 2024-03-01", got)
	}
}
