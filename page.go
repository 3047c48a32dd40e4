package gatehouse

// Paging defaults of every list endpoint (page and per_page).
const (
	DefaultPerPage = 20
	MaxPerPage     = 100
)

// PageRequest says which page of a list to return and in which order.
// Sort is a field name already checked against the endpoint's allowlist.
// Cursor, when set, is a next_cursor of an earlier page of the same list
// (same sort, order, filters and environment): the page starts right
// after that page's last item (keyset paging) and Page is not used.
type PageRequest struct {
	Page    int
	PerPage int
	Sort    string
	Desc    bool
	Cursor  string
	// CountUpTo, when above 0, bounds the count of a page by number: a
	// list longer than that reports Total = CountUpTo and TotalCapped.
	// The API counts up to TotalCap; the server's own walks count all.
	CountUpTo int
}

// TotalCap is how far the API counts a list for page paging: counting a
// million rows costs seconds, a page of them milliseconds.
const TotalCap = 10000

// Offset is the number of rows to skip.
func (p PageRequest) Offset() int { return (p.Page - 1) * p.PerPage }

// Page is one page of a list and the total count of matching items.
// Total is -1 when it was not counted (a page asked for by cursor: a
// count of a large list costs more than the page). NextCursor continues
// the list after this page; "" when this is the last page (or the list
// does not page by cursor).
type Page[T any] struct {
	Items       []T
	Total       int
	TotalCapped bool // the list has more than Total items (see CountUpTo)
	NextCursor  string
}
