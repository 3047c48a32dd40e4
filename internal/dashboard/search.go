package dashboard

import (
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/client"
)

// Global search (the box in the header; "/" or Ctrl+K focuses it): the
// environment's users, tenants, resources and roles by key or name (users
// by email too), and the organization's API keys by name or id, each
// through its v1 list with the viewer's permissions.

// searchHit is one result: what it is, its label and where it leads.
type searchHit struct {
	Kind, Label, Detail, Href string
}

type searchGroup struct {
	Title string
	Hits  []searchHit
	Err   string
}

// searchData is the search page's.
type searchData struct {
	Query  string
	Groups []searchGroup
	Total  int
}

// searchLimit is how many hits of each kind the page shows.
const searchLimit = 10

func (x *dash) search(w http.ResponseWriter, r *http.Request, v *viewer) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	d := &searchData{Query: q}
	if len(q) > 200 {
		x.render(w, r, http.StatusBadRequest, "search", &page{Title: "Search", Section: "search", Error: "A search is at most 200 characters.", Data: &searchData{}})
		return
	}
	if q == "" {
		x.render(w, r, 200, "search", &page{Title: "Search", Section: "search", Data: d})
		return
	}
	ctx, api := apiContext(r), v.env()
	opt := &client.FactListOptions{ListOptions: client.ListOptions{PerPage: searchLimit}, Search: q}
	type kind struct {
		title string
		scope gatehouse.Scope
		find  func() ([]searchHit, error)
	}
	esc := url.PathEscape
	kinds := []kind{
		{"Users", gatehouse.ScopeViewUser, func() ([]searchHit, error) {
			p, err := api.Users.List(ctx, opt)
			if err != nil {
				return nil, err
			}
			var out []searchHit
			for _, u := range p.Items {
				out = append(out, searchHit{Kind: "user", Label: u.Key, Detail: strings.TrimSpace(strings.Join([]string{u.FirstName + " " + u.LastName, u.Email}, " · ")), Href: "/users/" + esc(u.Key)})
			}
			return out, nil
		}},
		{"Tenants", gatehouse.ScopeViewTenant, func() ([]searchHit, error) {
			p, err := api.Tenants.List(ctx, opt)
			if err != nil {
				return nil, err
			}
			var out []searchHit
			for _, t := range p.Items {
				out = append(out, searchHit{Kind: "tenant", Label: t.Key, Detail: t.Name, Href: "/tenants/" + esc(t.Key)})
			}
			return out, nil
		}},
		{"Resources", gatehouse.ScopeViewResource, func() ([]searchHit, error) {
			p, err := api.Resources.List(ctx, opt)
			if err != nil {
				return nil, err
			}
			var out []searchHit
			for _, t := range p.Items {
				out = append(out, searchHit{Kind: "resource", Label: t.Key, Detail: t.Name, Href: "/resources/" + esc(t.Key)})
			}
			return out, nil
		}},
		{"Roles", gatehouse.ScopeViewRole, func() ([]searchHit, error) {
			p, err := api.Roles.List(ctx, opt)
			if err != nil {
				return nil, err
			}
			var out []searchHit
			for _, t := range p.Items {
				out = append(out, searchHit{Kind: "role", Label: t.Key, Detail: t.Name, Href: "/roles/" + esc(t.Key)})
			}
			return out, nil
		}},
		{"API keys", gatehouse.ScopeManageAPI, func() ([]searchHit, error) {
			// The key list has no search: its first 200 active keys, matched here.
			keys, err := x.usageKeys(ctx, v)
			if err != nil {
				return nil, err
			}
			var out []searchHit
			lq := strings.ToLower(q)
			for _, k := range keys {
				if strings.Contains(strings.ToLower(k.Name), lq) || strings.Contains(strings.ToLower(k.ID), lq) {
					out = append(out, searchHit{Kind: "key", Label: k.Name, Detail: k.Level + " · " + k.ID, Href: "/keys/" + esc(k.ID)})
					if len(out) == searchLimit {
						break
					}
				}
			}
			return out, nil
		}},
	}
	groups := make([]searchGroup, len(kinds))
	var wg sync.WaitGroup
	for i, k := range kinds {
		groups[i].Title = k.title
		if !v.can(k.scope) {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			hits, err := k.find()
			groups[i].Hits, groups[i].Err = hits, errText(err)
		}()
	}
	wg.Wait()
	for _, g := range groups {
		if len(g.Hits) > 0 || g.Err != "" {
			d.Groups = append(d.Groups, g)
			d.Total += len(g.Hits)
		}
	}
	x.render(w, r, 200, "search", &page{Title: "Search: " + q, Section: "search", Data: d})
}
