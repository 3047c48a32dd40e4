package dashboard

import (
	"fmt"
	"net/http"
	"time"

	"github.com/gatehouse-dev/gatehouse/client"
)

// statusRefresh is how often the status page reloads itself (seconds).
const statusRefresh = 60

// statusData is the public status page.
type statusData struct {
	Page       *client.StatusPage
	Components []statusRow
	Refresh    int
}

type statusRow struct {
	client.StatusComponent
	Uptime string
	Bars   []statusBar
	Width  int
}

// statusBar is one day of the uptime bars (inline SVG, styled by class).
type statusBar struct {
	X     int
	Class string
	Label string
}

const barStep = 6 // px per day: a 4px bar and a 2px gap

func statusRows(p *client.StatusPage) []statusRow {
	var rows []statusRow
	for _, c := range p.Components {
		row := statusRow{StatusComponent: c, Uptime: "no data", Width: len(c.Days) * barStep}
		if c.Uptime != nil {
			row.Uptime = fmt.Sprintf("%.2f%% uptime", *c.Uptime*100)
		}
		for i, d := range c.Days {
			b := statusBar{X: i * barStep, Class: "none", Label: d.Day + ": no data"}
			if d.Uptime != nil {
				switch {
				case d.Down > 0 && *d.Uptime < 0.95:
					b.Class = "down"
				case d.Down > 0 || d.Degraded > 0:
					b.Class = "degraded"
				default:
					b.Class = "up"
				}
				b.Label = fmt.Sprintf("%s: %.2f%% up (%d samples: %d degraded, %d down)", d.Day, *d.Uptime*100,
					d.Operational+d.Degraded+d.Down, d.Degraded, d.Down)
			}
			row.Bars = append(row.Bars, b)
		}
		rows = append(rows, row)
	}
	return rows
}

// statusPage is the public status page (/status): the same data as GET
// /v1/status, drawn on the server, reloading itself every minute.
func (x *dash) statusPage(w http.ResponseWriter, r *http.Request) {
	p, err := x.apiClient(r, nil).Status.Get(apiContext(r))
	if err != nil {
		x.fail(w, r, statusOf(err), errText(err))
		return
	}
	w.Header().Set("Refresh", fmt.Sprint(statusRefresh))
	x.render(w, r, http.StatusOK, "status", &page{Title: "Status", Data: &statusData{Page: p, Components: statusRows(p), Refresh: statusRefresh}})
}

// stateClass is the badge class of a component state.
func stateClass(state string) string {
	switch state {
	case "operational":
		return "ok"
	case "degraded":
		return "warn"
	}
	return "bad"
}

func utc(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }
