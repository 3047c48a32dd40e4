package dashboard

import (
	"encoding/json"
	"fmt"
	"html/template"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse"
)

var funcs = template.FuncMap{
	// can reports whether the viewer holds a scope (the page shows what the
	// API would let them do; the API still decides).
	"can": func(v *viewer, scope string) bool { return v != nil && v.can(gatehouse.Scope(scope)) },
	"str": str,
	// the status page's badge class of a component state, and a UTC time
	"stateClass": stateClass,
	"utc":        utc,
	// when shows an RFC 3339 time as "2 minutes ago" (title: the time).
	"when": func(v any) template.HTML {
		t, ok := parseTime(v)
		if !ok {
			return "—"
		}
		return template.HTML(fmt.Sprintf(`<time datetime="%s" title="%s">%s</time>`, t.Format(time.RFC3339),
			t.UTC().Format("2006-01-02 15:04:05 UTC"), template.HTMLEscapeString(ago(time.Since(t)))))
	},
	"datetime": func(v any) string {
		if t, ok := parseTime(v); ok {
			return t.UTC().Format("2006-01-02 15:04:05 UTC")
		}
		return "—"
	},
	"pretty": pretty,
	"join": func(v any, sep string) string {
		switch l := v.(type) {
		case []any:
			parts := make([]string, len(l))
			for i, x := range l {
				parts[i] = str(x)
			}
			return strings.Join(parts, sep)
		case []string:
			return strings.Join(l, sep)
		}
		return ""
	},
	"short": func(v any) string {
		s := str(v)
		if len(s) > 8 {
			return s[len(s)-8:]
		}
		return s
	},
	// num groups a number's thousands; a count not known (nil) is blank.
	"num": func(v any) string {
		switch n := v.(type) {
		case *int:
			if n == nil {
				return ""
			}
			return groupThousands(int64(*n))
		case int:
			return groupThousands(int64(n))
		case int64:
			return groupThousands(n)
		case float64:
			if n == math.Trunc(n) {
				return groupThousands(int64(n))
			}
			return fmt.Sprintf("%.2f", n)
		}
		return str(v)
	},
	// some reports a count that is known and not zero.
	"some": func(n *int) bool { return n != nil && *n != 0 },
	"pct": func(v any) string {
		f, _ := v.(float64)
		return fmt.Sprintf("%.0f", math.Max(0, math.Min(100, f)))
	},
	// tone picks the colour of a status badge.
	"tone": func(v any) string {
		s := str(v)
		switch {
		case s == "succeeded" || s == "active" || s == "enabled" || s == "true" || strings.HasPrefix(s, "2"):
			return "ok"
		case s == "failed" || s == "revoked" || s == "disabled" || s == "false" || strings.HasPrefix(s, "5"):
			return "bad"
		case s == "running" || s == "pending" || s == "queued" || s == "failing" || strings.HasPrefix(s, "4"):
			return "warn"
		}
		return "muted"
	},
	"dict": func(kv ...any) map[string]any {
		m := map[string]any{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[str(kv[i])] = kv[i+1]
		}
		return m
	},
	"initial": func(s string) string {
		if s == "" {
			return "?"
		}
		return strings.ToUpper(s[:1])
	},
	"year":      func() int { return time.Now().Year() },
	"hasPrefix": strings.HasPrefix,
	"list":      func(s ...string) []string { return s },
	"refLink":   refLink,
	"stepLink":  stepLink,
	"stepKind":  stepKind,
	"add":       func(a, b int) int { return a + b },
	// inc is a row number counted from one ("0" → 1).
	"inc": func(n string) int { i, _ := strconv.Atoi(n); return i + 1 },
	// expiry is a time as a datetime-local field takes it, in UTC.
	"expiry": func(v any) string {
		if t, ok := parseTime(v); ok {
			return t.UTC().Format(expiryLayout)
		}
		return ""
	},
	// attrText is an attribute's value as its field shows it.
	"attrText": attrText,
	// count is a number with its noun: "1 role", "3 roles".
	"count": func(v any, one, many string) string {
		n := 0
		switch x := v.(type) {
		case int:
			n = x
		case *int:
			if x != nil {
				n = *x
			}
		}
		if n == 1 {
			return "1 " + one
		}
		return groupThousands(int64(n)) + " " + many
	},
}

// parseTime reads a time of the API: a time (none when it is nil) or its
// RFC 3339 text.
func parseTime(v any) (time.Time, bool) {
	switch t := v.(type) {
	case time.Time:
		return t, true
	case *time.Time:
		if t == nil {
			return time.Time{}, false
		}
		return *t, true
	case string:
		if t == "" {
			return time.Time{}, false
		}
		pt, err := time.Parse(time.RFC3339Nano, t)
		return pt, err == nil
	}
	return time.Time{}, false
}

func str(v any) string {
	if v == nil {
		return ""
	}
	if s, ok := v.(string); ok {
		return s
	}
	return fmt.Sprint(v)
}

// pretty indents v as JSON with the keys of its objects in order, as the
// API's answer reads decoded into plain maps.
func pretty(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return prettyJSON(string(b))
}

// prettyJSON indents a JSON text (objects' keys in order); anything else is
// returned as is.
func prettyJSON(s string) string {
	var v any
	if json.Unmarshal([]byte(s), &v) != nil {
		return s
	}
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return s
	}
	return string(out)
}

func ago(d time.Duration) string {
	switch {
	case d < 0:
		return "in " + span(-d)
	case d < 10*time.Second:
		return "just now"
	}
	return span(d) + " ago"
}

func span(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d seconds", int(d.Seconds()))
	case d < 2*time.Minute:
		return "a minute"
	case d < time.Hour:
		return fmt.Sprintf("%d minutes", int(d.Minutes()))
	case d < 2*time.Hour:
		return "an hour"
	case d < 48*time.Hour:
		return fmt.Sprintf("%d hours", int(d.Hours()))
	}
	return fmt.Sprintf("%d days", int(d.Hours()/24))
}

func groupThousands(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
