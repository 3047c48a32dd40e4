package client

import (
	"context"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// PageMeta is a list's paging: where this page is in the whole.
type PageMeta struct {
	RequestID   string    `json:"request_id"`
	Timestamp   time.Time `json:"timestamp"`
	Page        int       `json:"page"`
	PerPage     int       `json:"per_page"`
	TotalItems  int       `json:"total_items"`
	TotalPages  int       `json:"total_pages"`
	HasNext     bool      `json:"has_next"`
	HasPrevious bool      `json:"has_previous"`
}

// Page is one page of a list.
type Page[T any] struct {
	Items []T
	Meta  PageMeta
}

// ListOptions are the paging and sorting of every list. Zero values take
// the server's defaults (page 1, 20 per page, at most 100).
type ListOptions struct {
	Page    int
	PerPage int
	Sort    string // a field the list documents, e.g. created_at, key, name
	Desc    bool   // order=desc
}

func (o *ListOptions) values() url.Values {
	q := url.Values{}
	if o == nil {
		return q
	}
	if o.Page > 0 {
		q.Set("page", strconv.Itoa(o.Page))
	}
	if o.PerPage > 0 {
		q.Set("per_page", strconv.Itoa(o.PerPage))
	}
	if o.Sort != "" {
		q.Set("sort", o.Sort)
	}
	if o.Desc {
		q.Set("order", "desc")
	}
	return q
}

// set adds a filter when it has a value.
func set(q url.Values, key, value string) {
	if value != "" {
		q.Set(key, value)
	}
}

func list[T any](ctx context.Context, c *Client, path string, q url.Values) (*Page[T], error) {
	p := &Page[T]{}
	if err := c.do(ctx, request{method: http.MethodGet, path: path, query: q}, &p.Items, &p.Meta); err != nil {
		return nil, err
	}
	return p, nil
}

// all iterates over every item of a list, page after page (100 at a time
// unless q says otherwise); it stops at the first error, which it yields.
func all[T any](ctx context.Context, c *Client, path string, q url.Values) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		if q.Get("per_page") == "" {
			q.Set("per_page", "100")
		}
		page := 1
		if p, err := strconv.Atoi(q.Get("page")); err == nil && p > 0 {
			page = p
		}
		for {
			q.Set("page", strconv.Itoa(page))
			p, err := list[T](ctx, c, path, q)
			if err != nil {
				var zero T
				yield(zero, err)
				return
			}
			for _, it := range p.Items {
				if !yield(it, nil) {
					return
				}
			}
			if !p.Meta.HasNext {
				return
			}
			page++
		}
	}
}
