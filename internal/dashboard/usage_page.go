package dashboard

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/client"
)

// The usage page: charts over time of the environment's API calls (by
// status class and by key), its permission checks (allowed, denied), the
// organization's webhook deliveries (by outcome), and each key's use of
// its rate limit over the last hour. Everything is read through the v1
// API's aggregate endpoints (/v1/usage/calls, /v1/usage/checks,
// /v1/usage/webhooks): one grouped query each, never a page of log rows.
// Charts are inline SVG drawn here (no script, no CDN).

// usageRange is a window the page offers: n buckets of an interval.
type usageRange struct {
	Key, Label, Interval string
	Width                time.Duration
	N                    int
}

var usageRanges = []usageRange{
	{"1h", "Last hour", "minute", time.Minute, 60},
	{"24h", "Last 24 hours", "hour", time.Hour, 24},
	{"7d", "Last 7 days", "hour", time.Hour, 168},
	{"30d", "Last 30 days", "day", 24 * time.Hour, 30},
}

// chart is a stacked bar chart over the window's buckets.
type chart struct {
	ID, Title, Note string
	Series          []chartSeries
	Bars            []chartBar
	Total           int64
	Max             int64
	From, To        string // the axis's ends
	Empty           string // shown instead when nothing was counted
	Err             string
}

type chartSeries struct {
	Name, Class string
	Total       int64
}

// chartBar is one bucket: its segments, bottom up, in the SVG's units.
type chartBar struct {
	X, W     float64
	Label    string
	Total    int64
	Values   []int64 // per series
	Segments []chartSegment
}

type chartSegment struct {
	Y, H  float64
	Class string
	Title string
}

// The SVG's drawing box (viewBox); it scales to the card's width.
const chartW, chartH = 720.0, 180.0

func init() {
	funcs["chartW"] = func() float64 { return chartW }
	funcs["chartH"] = func() float64 { return chartH }
	funcs["f1"] = func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }
	funcs["checkFactor"] = func() int { return checkFactor }
}

// buildChart lays out values[bucket][series] as stacked bars.
func buildChart(c *chart, rg usageRange, start time.Time, values [][]int64) {
	for _, row := range values {
		var sum int64
		for i, v := range row {
			sum += v
			c.Series[i].Total += v
		}
		c.Total += sum
		c.Max = max(c.Max, sum)
	}
	slot := chartW / float64(rg.N)
	gap := min(slot*0.2, 4)
	for b, row := range values {
		at := start.Add(time.Duration(b) * rg.Width)
		bar := chartBar{X: float64(b)*slot + gap/2, W: slot - gap, Label: bucketLabel(at, rg), Values: row}
		y := chartH
		var parts []string
		for i, v := range row {
			bar.Total += v
			if v == 0 {
				continue
			}
			h := float64(v) / float64(max(c.Max, 1)) * (chartH - 4)
			y -= h
			bar.Segments = append(bar.Segments, chartSegment{Y: y, H: h, Class: c.Series[i].Class})
			parts = append(parts, fmt.Sprintf("%s %d", c.Series[i].Name, v))
		}
		if len(bar.Segments) > 0 {
			title := bar.Label + ": " + strings.Join(parts, ", ")
			for i := range bar.Segments {
				bar.Segments[i].Title = title
			}
		}
		c.Bars = append(c.Bars, bar)
	}
	c.From, c.To = bucketLabel(start, rg), "now"
}

func bucketLabel(t time.Time, rg usageRange) string {
	t = t.UTC()
	switch rg.Interval {
	case "minute":
		return t.Format("15:04 UTC")
	case "hour":
		return t.Format("Jan 2 15:00 UTC")
	}
	return t.Format("Jan 2")
}

// keyLimit is one key's use of its rate limit over the last hour.
type keyLimit struct {
	Key           client.APIKey
	Calls, Checks int64
	Used, Limit   int64 // what it spends and the limit it spends from (0: none)
	// Shared: the limit is shared with other keys, and Used is all of
	// theirs, not this key's share.
	Shared        bool
	Bucket        string
	ChecksLimit   int64 // the check budget (0: checks spend Limit, or none)
	Percent       int   // Used of Limit
	ChecksPercent int
	Over, Near    bool
}

// usageData is the usage page's.
type usageData struct {
	Ranges                  []usageRange
	Range                   usageRange
	Calls, ByKey, Checks    *chart
	Webhooks                *chart
	Limits                  []keyLimit
	LimitsErr               string
	Sandbox                 bool
	CanLog, CanHook, CanKey bool
}

// checkFactor is ratelimit.CheckFactor: the check budget holds this many
// checks an hour per API call of the limit that applies.
const checkFactor = 100

func (x *dash) usagePage(w http.ResponseWriter, r *http.Request, v *viewer) {
	ctx := apiContext(r)
	rg := usageRanges[1]
	for _, c := range usageRanges {
		if c.Key == r.URL.Query().Get("range") {
			rg = c
		}
	}
	envs, env := x.environments(r, v)
	d := &usageData{Ranges: usageRanges, Range: rg, CanLog: v.can(gatehouse.ScopeViewLog), CanHook: v.can(gatehouse.ScopeViewWebhook),
		CanKey: v.can(gatehouse.ScopeManageAPI)}
	if env != nil {
		d.Sandbox = env.Sandbox
	}
	now := x.Now().UTC()
	start := now.Truncate(rg.Width).Add(-time.Duration(rg.N-1) * rg.Width)
	opt := client.UsageOptions{Since: start, Until: now, Interval: rg.Interval}
	api := v.env()

	// The reads are independent: in parallel, each an aggregate query.
	var (
		wg                           sync.WaitGroup
		calls, hourCalls             []client.CallUsage
		checks, hourChecks           []client.CheckUsage
		hooks                        []client.WebhookUsage
		keys                         []client.APIKey
		org                          *client.OrgSettings
		callsErr, checksErr          error
		hooksErr, limitsErr, keysErr error
	)
	run := func(f func()) { wg.Add(1); go func() { defer wg.Done(); f() }() }
	hour := client.UsageOptions{Since: now.Add(-time.Hour), Until: now, Interval: "minute", GroupBy: "key"}
	// The usage reads in two lanes, one after the other in each: the API
	// runs at most usage.DefaultQueriesPerOrg (2) of an organization's
	// usage queries at once (another waits up to 2 s, then gets a 429).
	var hourCallsErr, hourChecksErr error
	if d.CanLog {
		run(func() {
			// One read of the log for both charts.
			calls, callsErr = v.api.Logs.Usage(ctx, &client.UsageOptions{Since: start, Until: now, Interval: rg.Interval, GroupBy: "status_and_key"})
			hourCalls, hourCallsErr = v.api.Logs.Usage(ctx, &hour)
		})
	}
	run(func() {
		if d.CanLog {
			checks, checksErr = api.Decisions.CheckUsage(ctx, &opt)
			hourChecks, hourChecksErr = api.Decisions.CheckUsage(ctx, &hour)
		}
		if d.CanHook {
			hooks, hooksErr = v.api.Webhooks.Usage(ctx, &opt)
		}
	})
	if d.CanKey {
		run(func() { keys, keysErr = x.usageKeys(ctx, v) })
	}
	if v.can(gatehouse.ScopeViewSettings) {
		run(func() { org, _ = v.api.Settings.Organization(ctx) })
	}
	var members []client.Member
	if v.can(gatehouse.ScopeViewMember) {
		// The API log names members by bare id.
		run(func() {
			if page, err := v.api.Members.List(ctx, "", &client.ListOptions{PerPage: 100}); err == nil {
				members = page.Items
			}
		})
	}
	wg.Wait()
	limitsErr = firstErr(hourCallsErr, hourChecksErr)
	// The environments' own limits, of the environments keys are bound to:
	// read at most 4 at a time.
	envLimits := map[string]int{}
	if v.can(gatehouse.ScopeViewSettings) {
		var mu sync.Mutex
		sem := make(chan struct{}, 4)
		for _, e := range envs {
			if !bound(keys, e.EnvID) {
				continue
			}
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				if set, err := v.api.Settings.Environment(ctx, e.ProjectID, e.EnvID); err == nil && set.RateLimitPerHour != nil {
					mu.Lock()
					envLimits[e.EnvID] = *set.RateLimitPerHour
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
	}

	names := map[string]string{}
	for _, k := range keys {
		names[k.ID] = k.Name
	}
	for _, m := range members {
		names[m.ID] = m.Email + " (dashboard)"
		names["member:"+m.ID] = m.Email + " (dashboard)"
	}
	if v.member != nil {
		// The API log names a member by id; check usage as member:<id>.
		names[v.member.ID] = v.member.Email + " (dashboard)"
		names["member:"+v.member.ID] = v.member.Email + " (dashboard)"
	}
	index := func(t time.Time) int {
		i := int(t.Sub(start) / rg.Width)
		if i < 0 || i >= rg.N {
			return -1
		}
		return i
	}
	grid := func(series int) [][]int64 {
		g := make([][]int64, rg.N)
		for i := range g {
			g[i] = make([]int64, series)
		}
		return g
	}

	if d.CanLog {
		statuses := []string{"2xx", "3xx", "4xx", "5xx"}
		d.Calls = &chart{ID: "calls-status", Title: "API calls by status", Note: "Every environment's calls in the API log (not the dashboard's page reads, nor permission checks: the checks chart counts those).",
			Empty: "No API calls yet.", Err: errText(callsErr)}
		for _, s := range statuses {
			d.Calls.Series = append(d.Calls.Series, chartSeries{Name: s, Class: "c-" + s})
		}
		g := grid(len(statuses))
		for _, c := range calls {
			if i := index(c.Start); i >= 0 {
				for j, s := range statuses {
					if c.Status == s {
						g[i][j] += c.Calls
					}
				}
			}
		}
		buildChart(d.Calls, rg, start, g)

		// By key: the five busiest callers, the rest together.
		totals := map[string]int64{}
		for _, c := range calls {
			totals[c.KeyID] += c.Calls
		}
		ids := make([]string, 0, len(totals))
		for id := range totals {
			ids = append(ids, id)
		}
		sort.Slice(ids, func(i, j int) bool {
			if totals[ids[i]] != totals[ids[j]] {
				return totals[ids[i]] > totals[ids[j]]
			}
			return ids[i] < ids[j]
		})
		const top = 5
		d.ByKey = &chart{ID: "calls-key", Title: "API calls by key", Note: "The five busiest callers; the rest together.", Empty: "No API calls yet.", Err: errText(callsErr)}
		slot := map[string]int{}
		for i, id := range ids {
			if i == top {
				d.ByKey.Series = append(d.ByKey.Series, chartSeries{Name: "Others", Class: "s-other"})
				break
			}
			slot[id] = i
			name := names[id]
			if name == "" {
				name = keyLabel(id)
			}
			d.ByKey.Series = append(d.ByKey.Series, chartSeries{Name: name, Class: fmt.Sprintf("s-%d", i+1)})
		}
		g = grid(len(d.ByKey.Series))
		for _, c := range calls {
			if i := index(c.Start); i >= 0 {
				j, ok := slot[c.KeyID]
				if !ok {
					j = top
				}
				g[i][j] += c.Calls
			}
		}
		buildChart(d.ByKey, rg, start, g)

		d.Checks = &chart{ID: "checks", Title: "Permission checks by decision", Note: "Every check is counted, whatever the decision log keeps; counts reach the page within about 10 seconds.",
			Empty: "No permission checks in this environment yet.", Err: errText(checksErr),
			Series: []chartSeries{{Name: "Allowed", Class: "c-allow"}, {Name: "Denied", Class: "c-deny"}}}
		g = grid(2)
		for _, c := range checks {
			if i := index(c.Start); i >= 0 {
				g[i][0] += c.Allowed
				g[i][1] += c.Denied
			}
		}
		buildChart(d.Checks, rg, start, g)
	}
	if d.CanHook {
		d.Webhooks = &chart{ID: "webhooks", Title: "Webhook deliveries", Note: "Deliveries to this organization's endpoints, by their outcome so far.",
			Empty: "No webhook deliveries yet.", Err: errText(hooksErr),
			Series: []chartSeries{{Name: "Succeeded", Class: "c-allow"}, {Name: "Failed", Class: "c-deny"}, {Name: "Pending", Class: "c-pending"}, {Name: "Cancelled", Class: "c-other"}}}
		g := grid(4)
		for _, c := range hooks {
			if i := index(c.Start); i >= 0 {
				g[i][0] += c.Succeeded
				g[i][1] += c.Failed
				g[i][2] += c.Pending
				g[i][3] += c.Cancelled
			}
		}
		buildChart(d.Webhooks, rg, start, g)
	}
	if d.CanLog && d.CanKey {
		d.Limits, d.LimitsErr = limitsOf(keys, envs, org, envLimits, hourCalls, hourChecks), errText(firstErr(keysErr, limitsErr))
	}
	x.render(w, r, 200, "usage", &page{Title: "Usage", Section: "usage", Data: d})
}

// usageKeys lists the organization's active keys (up to 200).
func (x *dash) usageKeys(ctx context.Context, v *viewer) ([]client.APIKey, error) {
	p, err := v.api.APIKeys.List(ctx, &client.APIKeyListOptions{ListOptions: client.ListOptions{PerPage: 100, Cursor: "start"}, Status: "active"})
	if err != nil {
		return nil, err
	}
	keys := p.Items
	if p.Meta.NextCursor != "" {
		if p2, err := v.api.APIKeys.List(ctx, &client.APIKeyListOptions{ListOptions: client.ListOptions{PerPage: 100, Cursor: p.Meta.NextCursor}, Status: "active"}); err == nil {
			keys = append(keys, p2.Items...)
		}
	}
	return keys, nil
}

// bound reports whether a key is bound to environment envID.
func bound(keys []client.APIKey, envID string) bool {
	for _, k := range keys {
		if k.EnvironmentID == envID {
			return true
		}
	}
	return false
}

// limitsOf is each key with its calls (all environments) and checks (this
// environment) of the last hour against the limit it spends from, as
// ratelimit.Policy decides it: a sandbox environment's keys have none; a
// key's own limit covers its checks too; else an environment key spends
// its environment's override, else the organization's limit, shared with
// the other keys, and checks a budget checkFactor times as large.
func limitsOf(keys []client.APIKey, envs []envChoice, org *client.OrgSettings, envLimits map[string]int, calls []client.CallUsage, checks []client.CheckUsage) []keyLimit {
	sandbox := map[string]bool{}
	for _, e := range envs {
		sandbox[e.EnvID] = e.Sandbox
	}
	callsOf, checksOf := map[string]int64{}, map[string]int64{}
	for _, c := range calls {
		callsOf[c.KeyID] += c.Calls
	}
	for _, c := range checks {
		checksOf[c.KeyID] += c.Checks
	}
	// A shared limit is spent by every key on it: its use is their sum.
	const orgShare = "\x00org"
	shareOf := func(k client.APIKey) string {
		switch {
		case sandbox[k.EnvironmentID] || k.RateLimit > 0:
			return ""
		case envLimits[k.EnvironmentID] > 0:
			return k.EnvironmentID
		case org != nil && org.EffectiveLimit > 0:
			return orgShare
		}
		return ""
	}
	sharedCalls, sharedChecks := map[string]int64{}, map[string]int64{}
	for _, k := range keys {
		if sh := shareOf(k); sh != "" {
			sharedCalls[sh] += callsOf[k.ID]
			sharedChecks[sh] += checksOf[k.ID]
		}
	}
	var out []keyLimit
	for _, k := range keys {
		l := keyLimit{Key: k, Calls: callsOf[k.ID], Checks: checksOf[k.ID]}
		switch {
		case sandbox[k.EnvironmentID]:
			l.Bucket = "not limited (sandbox)"
		case k.RateLimit > 0:
			l.Limit, l.Bucket, l.Used = int64(k.RateLimit), "its own limit (calls and checks)", l.Calls+l.Checks
		case envLimits[k.EnvironmentID] > 0:
			l.Limit, l.Bucket, l.Shared = int64(envLimits[k.EnvironmentID]), "its environment's limit, shared with its other keys", true
		case org != nil && org.EffectiveLimit > 0:
			l.Limit, l.Bucket, l.Shared = int64(org.EffectiveLimit), "the organization's limit, shared with its other keys", true
		default:
			l.Bucket = "unknown (no view:settings)"
		}
		if l.Limit > 0 {
			if k.RateLimit <= 0 {
				// The use of the shared limit: every key's on it, not
				// this key's share alone.
				sh := shareOf(k)
				l.Used = sharedCalls[sh]
				l.ChecksLimit = l.Limit * checkFactor
				l.ChecksPercent = percent(sharedChecks[sh], l.ChecksLimit)
			}
			l.Percent = percent(l.Used, l.Limit)
			l.Over, l.Near = l.Percent >= 100, l.Percent >= 80
		}
		out = append(out, l)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Percent > out[j].Percent })
	return out
}

func percent(n, of int64) int {
	if of <= 0 {
		return 0
	}
	return int(min(n*100/of, 999))
}

// keyLabel names a caller neither the key list nor the member list does:
// a member's check usage, or a key since deleted (or one not listed).
func keyLabel(id string) string {
	if strings.HasPrefix(id, "member:") {
		return "a member (dashboard)"
	}
	if id == "" {
		return "no valid key"
	}
	return "deleted or unknown key (" + id + ")"
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
