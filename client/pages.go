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
	// NextCursor continues the list after this page (ListOptions.Cursor);
	// "" on the last page. A page by cursor is not counted: its TotalItems
	// and TotalPages are -1 and Page is 0.
	NextCursor string `json:"next_cursor,omitempty"`
	// TotalCapped: the list has more than TotalItems items (the server
	// counts up to 10,000).
	TotalCapped bool `json:"total_capped,omitempty"`
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
	// Cursor is a PageMeta.NextCursor of the same list (same filters, Sort
	// and Desc), or "start" for a first page without a count: keyset
	// paging, as fast deep in a large list as at its start. Not with Page.
	Cursor string
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
	if o.Cursor != "" {
		q.Set("cursor", o.Cursor)
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
// It follows the server's next_cursor when there is one (keyset paging:
// no repeats or gaps while the list changes, and fast at any depth), and
// page numbers otherwise.
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
			if q.Get("cursor") == "" {
				q.Set("page", strconv.Itoa(page))
			}
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
			switch {
			case !p.Meta.HasNext:
				return
			case p.Meta.NextCursor != "":
				q.Del("page")
				q.Set("cursor", p.Meta.NextCursor)
			case q.Get("cursor") != "":
				return // a page by cursor without a next cursor is the last
			default:
				page++
			}
		}
	}
}
