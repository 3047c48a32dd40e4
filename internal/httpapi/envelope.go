package httpapi

import (
	"context"
	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/facts"
	"github.com/gatehouse-dev/gatehouse/internal/web"
)

// Meta accompanies every response.
type Meta = web.Meta

// ListMeta accompanies every list response (its pagination metadata).
type ListMeta struct {
	Meta
	Page        int  `json:"page"`
	PerPage     int  `json:"per_page"`
	TotalItems  int  `json:"total_items"`
	TotalPages  int  `json:"total_pages"`
	HasNext     bool `json:"has_next"`
	HasPrevious bool `json:"has_previous"`
	// TotalCapped says the list is longer than TotalItems (see TotalCap).
	TotalCapped bool `json:"total_capped,omitempty" doc:"True when the list has more than total_items items: a list is counted up to 10,000 (a count of a million rows costs more than the page); total_pages is then a lower bound too. Page on with next_cursor."`
	// NextCursor continues the list after this page (keyset paging).
	NextCursor string `json:"next_cursor,omitempty" doc:"Pass as cursor (with the same filters, sort and order) for the page after this one; absent on the last page. Pages by cursor stay fast at any depth and neither repeat nor skip items when others are inserted or deleted meanwhile."`
}

// Envelope is the body of every success response: {status, data, meta}.
type Envelope[T any] struct {
	Status string `json:"status" enum:"success" doc:"Always \"success\" for 2xx responses."`
	Data   T      `json:"data"`
	Meta   Meta   `json:"meta"`
}

// ListEnvelope is the body of a list response.
type ListEnvelope[T any] struct {
	Status string   `json:"status" enum:"success"`
	Data   []T      `json:"data"`
	Meta   ListMeta `json:"meta"`
}

// Out is the output of an operation answering one item.
type Out[T any] struct {
	Body Envelope[T]
}

// ListOut is the output of a list operation.
type ListOut[T any] struct {
	Body ListEnvelope[T]
}

// NoContent is the output of an operation answering 204.
type NoContent struct{}

func meta(ctx context.Context) Meta {
	m := web.NewMeta(ctx)
	m.Revision = facts.RevisionOf(ctx).Seq()
	m.UnconfirmedNodes = apikey.ConfirmationsOf(ctx).Unconfirmed()
	return m
}

func ok[T any](ctx context.Context, data T) *Out[T] {
	return &Out[T]{Body: Envelope[T]{Status: "success", Data: data, Meta: meta(ctx)}}
}

// list converts a store page into a list response with pager metadata.
func list[S, T any](ctx context.Context, page gatehouse.Page[S], req gatehouse.PageRequest, conv func(*S) T) *ListOut[T] {
	items := make([]T, len(page.Items))
	for i := range page.Items {
		items[i] = conv(&page.Items[i])
	}
	if page.Total < 0 { // a page by cursor: nothing counted
		return &ListOut[T]{Body: ListEnvelope[T]{Status: "success", Data: items, Meta: ListMeta{
			Meta: meta(ctx), Page: 0, PerPage: req.PerPage, TotalItems: -1, TotalPages: -1,
			HasNext: page.NextCursor != "", HasPrevious: req.Cursor != "start", NextCursor: page.NextCursor,
		}}}
	}
	pages := (page.Total + req.PerPage - 1) / req.PerPage
	return &ListOut[T]{Body: ListEnvelope[T]{Status: "success", Data: items, Meta: ListMeta{
		Meta: meta(ctx), Page: req.Page, PerPage: req.PerPage, TotalItems: page.Total, TotalPages: pages, TotalCapped: page.TotalCapped,
		HasNext: req.Page < pages || page.NextCursor != "", HasPrevious: req.Page > 1 && page.Total > 0, NextCursor: page.NextCursor,
	}}}
}

// PageQuery are the paging parameters of every list endpoint.
type PageQuery struct {
	Page    int    `query:"page" default:"1" minimum:"1" maximum:"1000000" doc:"Page number, from 1."`
	PerPage int    `query:"per_page" default:"20" minimum:"1" maximum:"100" doc:"Items per page (max 100)."`
	Order   string `query:"order" default:"asc" enum:"asc,desc" doc:"Sort direction."`
	Cursor  string `query:"cursor" maxLength:"512" doc:"The meta.next_cursor of the previous page, to page by keyset instead of by page number (give one or the other). Send the same filters, sort and order as that page; a cursor of another list, sort, filter or environment is a 400. A page by cursor does not count the list: its meta.total_items and meta.total_pages are -1 and meta.page is 0."`
}

func (q PageQuery) request(sort string) gatehouse.PageRequest {
	return gatehouse.PageRequest{Page: q.Page, PerPage: q.PerPage, Sort: sort, Desc: q.Order == "desc", Cursor: q.Cursor, CountUpTo: gatehouse.TotalCap}
}

// noCursor refuses a cursor on the few short lists paged in memory, which
// never return one.
func (q PageQuery) noCursor() error {
	if q.Cursor != "" {
		return gatehouse.FieldError("cursor", "invalid_cursor", "this list is short and pages by page number only: it never returns a cursor")
	}
	return nil
}
