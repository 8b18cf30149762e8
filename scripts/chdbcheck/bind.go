package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The binding below follows clickhouse-go v2.50's client-side binding
// (bind.go there; it is unexported) for the value types effidx passes:
// the placeholders outside quotes and comments are replaced with SQL
// literals.

var quoteReplacer = strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\x00", `\0`)

func format(v any) (string, error) {
	switch v := v.(type) {
	case string:
		return "'" + quoteReplacer.Replace(v) + "'", nil
	case int, int32, int64, uint16, uint32, uint64:
		return fmt.Sprint(v), nil
	case []string:
		items := make([]string, len(v))
		for i, x := range v {
			items[i] = "'" + quoteReplacer.Replace(x) + "'"
		}
		return "[" + strings.Join(items, ", ") + "]", nil
	case []int32:
		items := make([]string, len(v))
		for i, x := range v {
			items[i] = strconv.Itoa(int(x))
		}
		return "[" + strings.Join(items, ", ") + "]", nil
	case time.Time:
		// clickhouse-go: a time in time.Local is sent as unix seconds in a
		// string (a zero instant as toDateTime(0)).
		if v.Location() != time.Local {
			return "", fmt.Errorf("time %v: only time.Local values are rendered", v)
		}
		if v.Unix() == 0 {
			return "toDateTime(0)", nil
		}
		return fmt.Sprintf("toDateTime('%d')", v.Unix()), nil
	}
	return "", fmt.Errorf("no rendering for %T", v)
}

func mustFormat(v any) string {
	s, err := format(v)
	if err != nil {
		panic(err)
	}
	return s
}

// scan calls f with the index of every byte outside quotes and comments.
func scan(q string, f func(i int) (skip int)) {
	var quote byte
	line, block := false, 0
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case line:
			line = c != '\n'
		case block > 0:
			if c == '*' && i+1 < len(q) && q[i+1] == '/' {
				block--
				i++
			} else if c == '/' && i+1 < len(q) && q[i+1] == '*' {
				block++
				i++
			}
		case quote != 0:
			if c == '\\' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"' || c == '`':
			quote = c
		case c == '-' && i+1 < len(q) && q[i+1] == '-', c == '#':
			line = true
		case c == '/' && i+1 < len(q) && q[i+1] == '*':
			block++
			i++
		default:
			i += f(i)
		}
	}
}

// bindNamed replaces @name with the named values.
func bindNamed(q string, args map[string]any) (string, error) {
	var b strings.Builder
	last := 0
	var err error
	scan(q, func(i int) int {
		if q[i] != '@' {
			return 0
		}
		j := i + 1
		for j < len(q) && (q[j] == '_' || q[j] >= '0' && q[j] <= '9' || q[j] >= 'a' && q[j] <= 'z' || q[j] >= 'A' && q[j] <= 'Z') {
			j++
		}
		name := q[i+1 : j]
		v, ok := args[name]
		if !ok {
			err = fmt.Errorf("no value for @%s", name)
			return j - i - 1
		}
		s, ferr := format(v)
		if ferr != nil {
			err = ferr
		}
		b.WriteString(q[last:i])
		b.WriteString(s)
		last = j
		return j - i - 1
	})
	b.WriteString(q[last:])
	return b.String(), err
}

// bindPositional replaces each ? with the next value.
func bindPositional(q string, args []any) (string, error) {
	var b strings.Builder
	last, n := 0, 0
	var err error
	scan(q, func(i int) int {
		if q[i] != '?' {
			return 0
		}
		if n >= len(args) {
			err = fmt.Errorf("no value for ? number %s", strconv.Itoa(n+1))
			n++
			return 0
		}
		s, ferr := format(args[n])
		if ferr != nil {
			err = ferr
		}
		n++
		b.WriteString(q[last:i])
		b.WriteString(s)
		last = i + 1
		return 0
	})
	if err == nil && n < len(args) {
		err = fmt.Errorf("%d values for %d placeholders", len(args), n)
	}
	b.WriteString(q[last:])
	return b.String(), err
}
