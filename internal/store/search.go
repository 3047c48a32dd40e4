package store

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse"
)

// Search (?search=) of users and tenants: a case-insensitive substring of
// some of a row's columns. searchCond's LIKE over each column decides what
// matches; a trigram index (migration 00032) narrows the rows it is
// checked on when the term has at least searchIndexMin characters, so that
// a term few rows hold is not checked against every row of the
// environment.
//
//   - SQLite: an FTS5 table of the trigram tokenizer per list, whose rowids
//     are the rows'. The rows it gives for the term are counted (each
//     checked, up to searchIndexedMax+1); if that many hold it at most,
//     the page is read through it too, else in the list's order.
//   - PostgreSQL: a GIN index of pg_trgm over the columns lowered and joined
//     by U+001F. Unless a sample says the term is common (searchSample),
//     the rows are counted through it, and read through it if at most
//     searchIndexedMax hold the term.
type searchIndex struct {
	table  string
	cols   []string // the columns searched, as searchCond takes them
	fts    string   // SQLite: the FTS5 table
	pgExpr string   // PostgreSQL: the indexed expression
}

var (
	userSearch = searchIndex{
		table:  "authz_users",
		cols:   []string{"key", "email", "first_name", "last_name"},
		fts:    "search_users",
		pgExpr: `lower(key || E'\x1f' || email || E'\x1f' || first_name || E'\x1f' || last_name)`,
	}
	tenantSearch = searchIndex{
		table:  "authz_tenants",
		cols:   []string{"key", "name"},
		fts:    "search_tenants",
		pgExpr: `lower(key || E'\x1f' || name)`,
	}
)

// searchIndexMin is the shortest term a trigram index finds: three
// characters (a shorter one has no trigram).
const searchIndexMin = 3

// searchIndexedMax is the most rows holding a term that a list reads
// through the index (fetched, checked, then sorted): a term more rows
// hold is read in the list's order, where its rows come often enough that
// a page fills after a short read. It is also the API's count cap, so the
// count that chooses is the list's count.
var searchIndexedMax = gatehouse.TotalCap

// searchSample and searchDensePercent: on PostgreSQL, a term that at least
// searchDensePercent % of the first searchSample rows of the environment
// (in the default order) hold is read in the list's order without asking
// the index: a GIN index is read whole (a bitmap of every row holding
// each of the term's trigrams), which for a common term costs more than
// the short read in order, and PostgreSQL keeps no statistics of the
// joined text to tell the two apart (it estimates every term rare).
const (
	searchSample       = 2000
	searchDensePercent = 5
)

// searched is what search learnt: the rows of the environment holding the
// term, counted up to searchIndexedMax+1 (counted false when not counted).
type searched struct {
	n, max  int // max: searchIndexedMax where it was counted
	counted bool
}

// count gives the list's count for page from s, when s knows it.
func (s searched) count(page gatehouse.PageRequest) (total int, capped, ok bool) {
	if !s.counted {
		return 0, false, false
	}
	if s.n <= s.max { // exact
		if page.CountUpTo > 0 && s.n > page.CountUpTo {
			return page.CountUpTo, true, true
		}
		return s.n, false, true
	}
	if page.CountUpTo > 0 && page.CountUpTo <= s.max {
		return page.CountUpTo, true, true
	}
	return 0, false, false // an exact count, or one capped higher, of more rows than were counted
}

// search adds the conditions of ?search= to w: searchCond's, which decide
// what matches, and where the term can be read through idx and few enough
// rows hold it, idx's, which only choose how the rows are read. Cursors
// are bound to the first (where.bind).
func (s *Store) search(ctx context.Context, w *where, envID, term string, idx searchIndex) (searched, error) {
	searchCond(w, term, idx.cols...)
	w.bind()
	if s.noSearchIndex || utf8.RuneCountInString(term) < searchIndexMin {
		return searched{}, nil
	}
	pattern := len(w.args) // the argument searchCond added
	most := searchIndexedMax
	if s.db.searchIndexedMax > 0 {
		most = s.db.searchIndexedMax
	}
	switch s.db.Engine {
	case Postgres:
		if !s.db.searchIndexed || strings.ContainsRune(term, '\x1f') {
			return searched{}, nil
		}
		sample := &where{}
		sample.add("env_id = ?", envID)
		searchCond(sample, term, idx.cols...)
		var hits int
		if err := s.reader().QueryRowContext(ctx, fmt.Sprintf("SELECT COUNT(*) FROM (SELECT %s FROM %s WHERE %s ORDER BY created_at, id LIMIT %d) s WHERE %s",
			strings.Join(idx.cols, ", "), idx.table, sample.parts[0], searchSample, sample.parts[1]), sample.args...).Scan(&hits); err != nil {
			return searched{}, fmt.Errorf("search %s: %w", idx.table, err)
		}
		if hits*100 >= searchSample*searchDensePercent {
			return searched{}, nil
		}
		// A row matching one column's condition matches this one: its
		// column is in the joined text, and no term holds the separator
		// that could make a term match across two columns.
		cond := fmt.Sprintf("%s LIKE $%d ESCAPE '\\'", idx.pgExpr, pattern)
		var n int
		if err := s.reader().QueryRowContext(ctx, fmt.Sprintf("SELECT COUNT(*) FROM (SELECT 1 FROM %s%s AND %s LIMIT %d) c", idx.table, w.sql(), cond, most+1),
			w.args...).Scan(&n); err != nil {
			return searched{}, fmt.Errorf("search %s: %w", idx.table, err)
		}
		if n <= most {
			w.parts = append(w.parts, cond)
		}
		return searched{n: n, max: most, counted: true}, nil
	case SQLite:
		// Count the rows through the index (the term's rowids, each row
		// checked), then read them through it too unless too many hold
		// the term.
		match := `"` + strings.ReplaceAll(term, `"`, `""`) + `"`
		var n int
		if err := s.reader().QueryRowContext(ctx, fmt.Sprintf("SELECT COUNT(*) FROM (SELECT 1 FROM (SELECT rowid AS r FROM %s WHERE %s MATCH $%d) f JOIN %s ON %s.rowid = f.r%s LIMIT %d) c",
			idx.fts, idx.fts, pattern+1, idx.table, idx.table, w.sql(), most+1), append(w.args, match)...).Scan(&n); err != nil {
			return searched{}, fmt.Errorf("search %s: %w", idx.fts, err)
		}
		if n <= most {
			w.add(fmt.Sprintf("rowid IN (SELECT rowid FROM %s WHERE %s MATCH ?)", idx.fts, idx.fts), match)
			// The rows the index gives drive the read, then are sorted:
			// left to itself SQLite reads the environment's rows in the
			// list's order through env_id's indexes and looks each up in
			// the index's rowids. A "+" keeps it from reading through an
			// index.
			for i, p := range w.parts {
				if strings.HasPrefix(p, "env_id = ") {
					w.parts[i] = "+" + p
				}
			}
		}
		return searched{n: n, max: most, counted: true}, nil
	}
	return searched{}, nil
}

// checkSearchIndexes notes whether PostgreSQL has the search indexes of
// migration 00032, and says how to add them when it has not.
func (db *DB) checkSearchIndexes(ctx context.Context) error {
	var n int
	if err := db.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM pg_indexes WHERE schemaname = current_schema() AND indexname IN ('authz_users_search', 'authz_tenants_search')`).Scan(&n); err != nil {
		return fmt.Errorf("look for the search indexes: %w", err)
	}
	db.searchIndexed = n == 2
	if !db.searchIndexed {
		slog.Warn("PostgreSQL has no trigram index for ?search= on users and tenants (the pg_trgm extension could not be created): a search reads every row of its environment. As a superuser: CREATE EXTENSION pg_trgm; then, as the database's owner: "+
			`CREATE INDEX IF NOT EXISTS authz_users_search ON authz_users USING gin (`+userSearch.pgExpr+` gin_trgm_ops); `+
			`CREATE INDEX IF NOT EXISTS authz_tenants_search ON authz_tenants USING gin (`+tenantSearch.pgExpr+` gin_trgm_ops); and restart the node`, "indexes_found", n)
	}
	return nil
}
