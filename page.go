package gatehouse

// Paging defaults of every list endpoint (page and per_page).
const (
	DefaultPerPage = 20
	MaxPerPage     = 100
)

// PageRequest says which page of a list to return and in which order.
// Sort is a field name already checked against the endpoint's allowlist.
type PageRequest struct {
	Page    int
	PerPage int
	Sort    string
	Desc    bool
}

// Offset is the number of rows to skip.
func (p PageRequest) Offset() int { return (p.Page - 1) * p.PerPage }

// Page is one page of a list and the total count of matching items.
type Page[T any] struct {
	Items []T
	Total int
}
