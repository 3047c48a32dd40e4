package dashboard

import (
	"net/http"
	"net/url"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/client"
	"github.com/gatehouse-dev/gatehouse/internal/event"
)

// An API key's page (its name and expiry edited in place), a webhook
// endpoint edited in place, and the confirmation pages of deleting an
// endpoint and removing a member.

// ---- an API key

// expiryLayout is the value of a datetime-local field (UTC on this page).
const expiryLayout = "2006-01-02T15:04"

type keyData struct {
	Key  *client.APIKey
	Form *form
	// Now is the earliest expiry the field offers.
	Now string
}

func (x *dash) key(w http.ResponseWriter, r *http.Request, v *viewer) {
	x.renderKey(w, r, v, http.StatusOK, "", nil)
}

func (x *dash) renderKey(w http.ResponseWriter, r *http.Request, v *viewer, st int, errMsg string, f *form) {
	k, err := v.api.APIKeys.Get(apiContext(r), r.PathValue("key"))
	if err != nil {
		x.fail(w, r, statusOf(err), errText(err))
		return
	}
	d := &keyData{Key: k, Form: f, Now: x.Now().UTC().Add(time.Minute).Format(expiryLayout)}
	if d.Form == nil {
		d.Form = emptyForm()
		d.Form.Values["name"] = k.Name
		if k.ExpiresAt != nil {
			d.Form.Values["expires_at"] = k.ExpiresAt.UTC().Format(expiryLayout)
		}
	}
	x.render(w, r, st, "key", &page{Title: "API key " + k.Name, Section: "keys", Error: errMsg, Data: d})
}

func (x *dash) updateKey(w http.ResponseWriter, r *http.Request, v *viewer) {
	f := newForm(r, "name", "expires_at", "current_expires_at")
	name := f.Val("name")
	if name == "" {
		f.fail("name", "Give the key a name.")
	}
	patch := client.APIKeyPatch{Name: &name}
	if exp := f.Val("expires_at"); exp != "" && exp != f.Val("current_expires_at") {
		t, err := time.ParseInLocation(expiryLayout, exp, time.UTC)
		if err != nil {
			if t, err = time.ParseInLocation(expiryLayout+":05", exp, time.UTC); err != nil {
				f.fail("expires_at", "Write a date and time such as 2026-12-31T18:00 (UTC).")
			}
		}
		patch.ExpiresAt = &t
	} else if exp == "" && f.Val("current_expires_at") != "" {
		f.fail("expires_at", "A key's expiry can be brought forward, not removed: its token carries it. Rotate the key for one without.")
	}
	if f.Failed() {
		x.renderKey(w, r, v, http.StatusBadRequest, "Not saved: check the marked fields.", f)
		return
	}
	k, err := v.api.APIKeys.Update(apiContext(r), r.PathValue("key"), patch)
	if err != nil {
		msg := f.apiError(err, same("name", "expires_at"))
		x.renderKey(w, r, v, statusOf(err), msg, f)
		return
	}
	x.redirect(w, r, "/keys/"+url.PathEscape(k.ID), "Key "+k.Name+" saved: every node uses the change from the next request.")
}

// ---- a webhook endpoint

// webhookForm is the edit form of an endpoint as it is.
func webhookForm(w *client.Webhook) (*form, map[string]bool) {
	f := emptyForm()
	f.Values["url"], f.Values["description"] = w.URL, w.Description
	if w.Enabled {
		f.Values["enabled"] = "on"
	}
	checked := map[string]bool{}
	for _, e := range w.Events {
		checked[e] = true
	}
	return f, checked
}

func (x *dash) updateWebhook(w http.ResponseWriter, r *http.Request, v *viewer) {
	_ = r.ParseForm()
	f := newForm(r, "url", "description", "enabled", "all")
	events := r.Form["events"]
	if f.Val("all") == "on" {
		events = []string{event.All}
	}
	checked := map[string]bool{}
	for _, e := range events {
		checked[e] = true
	}
	if len(events) == 0 {
		f.fail("events", "Choose the events to send, or every event.")
	}
	if f.Val("url") == "" {
		f.fail("url", "Give the endpoint's URL.")
	}
	if f.Failed() {
		x.renderWebhookForm(w, r, v, http.StatusBadRequest, "Not saved: check the marked fields.", f, checked)
		return
	}
	u, desc, enabled := f.Val("url"), f.Val("description"), f.Val("enabled") == "on"
	id := r.PathValue("webhook")
	hook, err := v.api.Webhooks.Update(apiContext(r), id, client.WebhookPatch{URL: &u, Description: &desc, Events: &events, Enabled: &enabled})
	if err != nil {
		msg := f.apiError(err, same("url", "description", "events"))
		x.renderWebhookForm(w, r, v, statusOf(err), msg, f, checked)
		return
	}
	x.redirect(w, r, "/webhooks/"+url.PathEscape(hook.ID), "Webhook saved.")
}

func (x *dash) confirmDeleteWebhook(w http.ResponseWriter, r *http.Request, v *viewer) {
	ctx, id := apiContext(r), r.PathValue("webhook")
	hook, err := v.api.Webhooks.Get(ctx, id)
	if err != nil {
		x.fail(w, r, statusOf(err), errText(err))
		return
	}
	esc := "/webhooks/" + url.PathEscape(hook.ID)
	d := &confirmData{What: "webhook " + hook.URL, Action: esc + "/delete", Back: esc, Button: "Delete this endpoint",
		Note: "Events stop going to " + hook.URL + " at once; its signing secret stops working."}
	one := &client.ListOptions{PerPage: 1}
	if n := total(v.api.Webhooks.Deliveries(ctx, hook.ID, "pending", one)); n != nil {
		d.add(cascadeItem{Count: *n, One: "delivery still to be sent, which is not sent", Text: "deliveries still to be sent, which are not sent", Link: esc + "?status=pending"})
	}
	if n := total(v.api.Webhooks.Deliveries(ctx, hook.ID, "", one)); n != nil {
		d.add(cascadeItem{Count: *n, One: "delivery in its history, with its attempts", Text: "deliveries in its history, with their attempts", Link: esc})
	} else {
		d.Unknown = append(d.Unknown, "its deliveries")
	}
	x.confirm(w, r, "webhooks", d, "")
}

// ---- a member

func (x *dash) confirmDeleteMember(w http.ResponseWriter, r *http.Request, v *viewer) {
	ctx := apiContext(r)
	m, err := v.api.Members.Get(ctx, r.PathValue("member"))
	if err != nil {
		x.fail(w, r, statusOf(err), errText(err))
		return
	}
	d := &confirmData{What: "member " + m.Email, Action: "/members/" + url.PathEscape(m.ID) + "/delete", Back: "/members", Button: "Remove " + m.Email,
		Note: m.Email + " can no longer sign in; their sessions end at once."}
	if v.can(gatehouse.ScopeManageAPI) {
		keys, err := v.api.APIKeys.List(ctx, &client.APIKeyListOptions{ListOptions: client.ListOptions{PerPage: maxNames}, CreatedBy: "member:" + m.ID, Status: "active"})
		if err != nil {
			d.Unknown = append(d.Unknown, "the API keys they made")
		} else {
			var names []string
			for _, k := range keys.Items {
				names = append(names, k.Name)
			}
			if keys.Meta.TotalItems > len(names) {
				names = append(names, "…")
			}
			d.add(cascadeItem{Count: keys.Meta.TotalItems, One: "active API key they made, which is revoked with them", Text: "active API keys they made, which are revoked with them", Names: names, Link: "/keys?status=active"})
		}
	} else {
		d.Unknown = append(d.Unknown, "the API keys they made, which are revoked with them (your role cannot see keys)")
	}
	x.confirm(w, r, "members", d, "")
}

// ---- a project, an environment

// countKeys adds to d the active API keys keep selects (those of a
// project or an environment), which stop working with it.
func (x *dash) countKeys(r *http.Request, v *viewer, d *confirmData, keep func(client.APIKey) bool) {
	if !v.can(gatehouse.ScopeManageAPI) {
		d.Unknown = append(d.Unknown, "its API keys, which stop working (your role cannot see keys)")
		return
	}
	var names []string
	n := 0
	for page := 1; ; page++ {
		keys, err := v.api.APIKeys.List(apiContext(r), &client.APIKeyListOptions{ListOptions: client.ListOptions{Page: page, PerPage: 100}, Status: "active"})
		if err != nil {
			d.Unknown = append(d.Unknown, "its API keys")
			return
		}
		for _, k := range keys.Items {
			if keep(k) {
				n++
				names = append(names, k.Name)
			}
		}
		if !keys.Meta.HasNext {
			break
		}
	}
	d.add(cascadeItem{Count: n, One: "active API key of it, which stops working", Text: "active API keys of it, which stop working", Names: someNames(names), Link: "/keys?status=active"})
}

// countEnvData adds to d what environment env holds (c is a client of
// it): its users, tenants, resource types and roles.
func countEnvData(r *http.Request, v *viewer, d *confirmData, c *client.Client, env string) {
	ctx, one := apiContext(r), &client.FactListOptions{ListOptions: client.ListOptions{PerPage: 1}}
	for _, it := range []struct {
		scope     gatehouse.Scope
		one, many string
		count     func() *int
	}{
		{gatehouse.ScopeViewUser, "user", "users", func() *int { return total(c.Users.List(ctx, one)) }},
		{gatehouse.ScopeViewTenant, "tenant", "tenants", func() *int { return total(c.Tenants.List(ctx, one)) }},
		{gatehouse.ScopeViewResource, "resource type", "resource types", func() *int { return total(c.Resources.List(ctx, one)) }},
		{gatehouse.ScopeViewRole, "role", "roles", func() *int { return total(c.Roles.List(ctx, one)) }},
	} {
		if !v.can(it.scope) {
			continue
		}
		n := it.count()
		if n == nil {
			d.Unknown = append(d.Unknown, it.many+" of "+env)
			continue
		}
		d.add(cascadeItem{Count: *n, One: it.one + " of " + env + ", with what refers to it", Text: it.many + " of " + env + ", with what refers to them"})
	}
}

func (x *dash) confirmDeleteProject(w http.ResponseWriter, r *http.Request, v *viewer) {
	ctx := apiContext(r)
	p, err := v.api.Projects.Get(ctx, r.PathValue("project"))
	if err != nil {
		x.fail(w, r, statusOf(err), errText(err))
		return
	}
	d := &confirmData{What: "project " + p.Name, Action: "/projects/" + url.PathEscape(p.ID) + "/delete", Back: "/projects",
		Note: "It can be brought back with everything in it for 7 days (POST /v1/projects/" + p.Key + "/restore); then it is purged for good."}
	var envs []client.Environment
	if list, err := v.api.Environments.List(ctx, p.ID, &client.ListOptions{PerPage: 100}); err == nil {
		envs = list.Items
	} else {
		d.Unknown = append(d.Unknown, "its environments")
	}
	var names []string
	for _, e := range envs {
		names = append(names, e.Name)
	}
	d.add(cascadeItem{Count: len(envs), One: "environment, with all its data", Text: "environments, with all their data", Names: someNames(names)})
	for _, e := range envs {
		countEnvData(r, v, d, v.api.WithEnvironment(p.ID, e.ID), e.Key)
	}
	x.countKeys(r, v, d, func(k client.APIKey) bool { return k.ProjectID == p.ID })
	x.confirm(w, r, "projects", d, "")
}

func (x *dash) confirmDeleteEnvironment(w http.ResponseWriter, r *http.Request, v *viewer) {
	ctx := apiContext(r)
	p, err := v.api.Projects.Get(ctx, r.PathValue("project"))
	if err != nil {
		x.fail(w, r, statusOf(err), errText(err))
		return
	}
	e, err := v.api.Environments.Get(ctx, p.ID, r.PathValue("environment"))
	if err != nil {
		x.fail(w, r, statusOf(err), errText(err))
		return
	}
	d := &confirmData{What: "environment " + p.Name + " / " + e.Name, Action: "/projects/" + url.PathEscape(p.ID) + "/environments/" + url.PathEscape(e.ID) + "/delete",
		Back: "/projects", Note: "Checks against it fail from then on. It can be brought back with its data for 7 days (POST …/environments/" + e.Key + "/restore); then it is purged for good."}
	countEnvData(r, v, d, v.api.WithEnvironment(p.ID, e.ID), e.Key)
	x.countKeys(r, v, d, func(k client.APIKey) bool { return k.EnvironmentID == e.ID })
	x.confirm(w, r, "projects", d, "")
}
