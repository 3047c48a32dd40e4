package webhook

import (
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/event"
)

func TestRoute(t *testing.T) {
	t.Parallel()
	eps := []Endpoint{
		{ID: "all", Enabled: true, Events: []string{event.All}},
		{ID: "users", Enabled: true, Events: []string{"user.created"}},
		{ID: "off", Enabled: false, Events: []string{event.All}},
		{ID: "p1", Enabled: true, ProjectID: "p1", Events: []string{event.All}},
		{ID: "p1e1", Enabled: true, ProjectID: "p1", EnvID: "e1", Events: []string{event.All}},
	}
	cases := []struct {
		name string
		ev   event.Event
		want []string
	}{
		{"an organization-wide event reaches organization-wide subscribers", event.Event{Type: "user.created"}, []string{"all", "users"}},
		{"an event of another type skips the narrow subscription", event.Event{Type: "role.created"}, []string{"all"}},
		{"a project's event reaches the project's endpoints", event.Event{Type: "role.created", ProjectID: "p1", EnvID: "e2"}, []string{"all", "p1"}},
		{"an environment's event reaches the environment's endpoint", event.Event{Type: "role.created", ProjectID: "p1", EnvID: "e1"}, []string{"all", "p1", "p1e1"}},
		{"another project's event stays out of p1", event.Event{Type: "role.created", ProjectID: "p2", EnvID: "e9"}, []string{"all"}},
		{"an event for one endpoint goes there, even disabled", event.Event{Type: "webhook.test", Only: "off"}, []string{"off"}},
		{"an event for an unknown endpoint goes nowhere", event.Event{Type: "webhook.test", Only: "gone"}, nil},
	}
	for _, c := range cases {
		var got []string
		for _, e := range Route(&c.ev, eps) {
			got = append(got, e.ID)
		}
		if len(got) != len(c.want) {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("%s: got %v, want %v", c.name, got, c.want)
				break
			}
		}
	}
}

func TestStamp(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 2, 10, 0, 0, 123456789, time.FixedZone("x", 3600))
	ev := event.Event{}
	Stamp(&ev, func() string { return "id1" }, now)
	if ev.ID != "id1" || !ev.OccurredAt.Equal(now.Truncate(time.Microsecond)) || ev.OccurredAt.Location() != time.UTC {
		t.Errorf("stamped %q at %v", ev.ID, ev.OccurredAt)
	}
	kept := event.Event{ID: "mine", OccurredAt: now.Add(-time.Hour)}
	Stamp(&kept, func() string { return "other" }, now)
	if kept.ID != "mine" || !kept.OccurredAt.Equal(now.Add(-time.Hour).Truncate(time.Microsecond)) {
		t.Errorf("an event's own id and time must be kept: %q at %v", kept.ID, kept.OccurredAt)
	}
}
