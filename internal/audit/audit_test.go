package audit

import (
	"context"
	"encoding/json"
	"testing"
)

func TestRedact(t *testing.T) {
	for _, c := range []struct {
		objectType, in, want string
	}{
		{"user", `{"id":"1","key":"ada","attributes":{"token":"kept: user data"}}`, `{"id":"1","key":"ada","attributes":{"token":"kept: user data"}}`},
		{"webhook", `{"id":"1","secret":"whsec_x","previous_secret":"whsec_y","url":"u"}`, `{"id":"1","url":"u"}`},
		{"api_key", `{"id":"1","key":"eyJ...","token_hash":"h","name":"ci"}`, `{"id":"1","name":"ci"}`},
		{"member", `{"id":"1","password_hash":"$argon2","email":"a@b"}`, `{"email":"a@b","id":"1"}`},
		{"user", `[1,2]`, `[1,2]`},
	} {
		got := Redact(c.objectType, json.RawMessage(c.in))
		var g, w any
		if json.Unmarshal(got, &g) != nil || json.Unmarshal([]byte(c.want), &w) != nil || toJSON(g) != toJSON(w) {
			t.Errorf("Redact(%s, %s) = %s, want %s", c.objectType, c.in, got, c.want)
		}
	}
	if Redact("user", nil) != nil || Redact("user", json.RawMessage("null")) != nil {
		t.Error("nothing must stay nothing")
	}
}

func toJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

func TestDiff(t *testing.T) {
	fs := Diff(json.RawMessage(`{"a":1,"b":{"x":[1,2]},"c":"same","gone":true}`), json.RawMessage(`{"a":2,"b":{"x":[1,2]},"c":"same","new":null}`))
	want := map[string]bool{"a": true, "b": false, "c": false, "gone": true, "new": true}
	if len(fs) != len(want) {
		t.Fatalf("%d fields: %+v", len(fs), fs)
	}
	for i, f := range fs {
		if i > 0 && fs[i-1].Name >= f.Name {
			t.Errorf("not in name order: %+v", fs)
		}
		if want[f.Name] != f.Changed {
			t.Errorf("%s changed = %v", f.Name, f.Changed)
		}
	}
	if fs[0].Before != "1" || fs[0].After != "2" || fs[3].Before != "true" || fs[3].After != "" {
		t.Errorf("values: %+v", fs)
	}
	if created := Diff(nil, json.RawMessage(`{"a":1}`)); len(created) != 1 || !created[0].Changed || created[0].Before != "" {
		t.Errorf("a creation: %+v", created)
	}
}

func TestActorFrom(t *testing.T) {
	if a := ActorFrom(context.Background()); a.Type != ActorSystem || a.ID != "" {
		t.Errorf("no actor: %+v", a)
	}
	set := WithActor(context.Background(), Actor{Type: ActorKey, ID: "k1", Name: "ci", IP: "10.0.0.1"})
	if a := ActorFrom(set); a.Type != ActorKey || a.ID != "k1" || a.IP != "10.0.0.1" {
		t.Errorf("set actor: %+v", a)
	}
	if a := ActorFrom(WithActor(context.Background(), Actor{IP: "10.0.0.2"})); a.Type != ActorSystem || a.IP != "10.0.0.2" {
		t.Errorf("where from only: %+v", a)
	}
}
