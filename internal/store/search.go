package store

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse"
)

// Search (?search=) of users, tenants and resource instances: a
// case-insensitive substring of some of a row's columns. searchCond's LIKE over each column decides what
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
	table string   // the list's table
	alias string   // its alias in the list's query ("" for none)
	from  string   // the list's FROM (its table and joins)
	cols  []string // the columns searched, as the list names them
	fts   string   // SQLite: the FTS5 table
	pgIdx string   // PostgreSQL: the GIN index
}

var (
	userSearch     = searchIndex{table: "authz_users", from: "authz_users", cols: []string{"key", "email", "first_name", "last_name"}, fts: "search_users", pgIdx: "authz_users_search"}
	tenantSearch   = searchIndex{table: "authz_tenants", from: "authz_tenants", cols: []string{"key", "name"}, fts: "search_tenants", pgIdx: "authz_tenants_search"}
	instanceSearch = searchIndex{table: "authz_instances", alias: "x", from: instanceFrom, cols: []string{"x.key"}, fts: "search_instances", pgIdx: "authz_instances_search"}
	searchIndexes  = []searchIndex{userSearch, tenantSearch, instanceSearch}
)

// col is c as the list's query names it.
func (idx searchIndex) col(c string) string {
	if idx.alias == "" {
		return c
	}
	return idx.alias + "." + c
}

// pgExpr is the expression idx's GIN index holds, with the columns named
// as by the list's query (qualified, bare for the index itself): the
// columns lowered, joined by U+001F.
func (idx searchIndex) pgExpr(qualified bool) string {
	var cols []string
	for _, c := range idx.cols {
		if !qualified {
			c = strings.TrimPrefix(c, idx.alias+".")
		}
		cols = append(cols, c)
	}
	return "lower(" + strings.Join(cols, ` || E'\x1f' || `) + ")"
}

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
	if w.err != nil || s.noSearchIndex || utf8.RuneCountInString(term) < searchIndexMin {
		return searched{}, nil
	}
	pattern := len(w.args) // the argument searchCond added
	most := searchIndexedMax
	if s.db.searchIndexedMax > 0 {
		most = s.db.searchIndexedMax
	}
	envCond := idx.col("env_id") + " = "
	switch s.db.Engine {
	case Postgres:
		if !s.db.searchIndexed || strings.ContainsRune(term, '\x1f') {
			return searched{}, nil
		}
		sample := &where{}
		sample.add(envCond+"?", envID)
		searchCond(sample, term, idx.cols...)
		var hits int
		if err := s.reader().QueryRowContext(ctx, fmt.Sprintf("SELECT COUNT(*) FROM (SELECT %s FROM %s %s WHERE %s ORDER BY %s, %s LIMIT %d) %s WHERE %s",
			strings.Join(idx.cols, ", "), idx.table, idx.alias, sample.parts[0], idx.col("created_at"), idx.col("id"), searchSample, cmp.Or(idx.alias, "s"), sample.parts[1]),
			sample.args...).Scan(&hits); err != nil {
			return searched{}, fmt.Errorf("search %s: %w", idx.table, err)
		}
		if hits*100 >= searchSample*searchDensePercent {
			return searched{}, nil
		}
		// A row matching one column's condition matches this one: its
		// column is in the joined text, and no term holds the separator
		// that could make a term match across two columns.
		cond := fmt.Sprintf("%s LIKE $%d ESCAPE '\\'", idx.pgExpr(true), pattern)
		var n int
		if err := s.reader().QueryRowContext(ctx, fmt.Sprintf("SELECT COUNT(*) FROM (SELECT 1 FROM %s%s AND %s LIMIT %d) c", idx.from, w.sql(), cond, most+1),
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
		if err := s.reader().QueryRowContext(ctx, fmt.Sprintf("SELECT COUNT(*) FROM (SELECT 1 FROM (SELECT rowid AS fts_rowid FROM %s WHERE %s MATCH $%d) fts CROSS JOIN %s%s AND %s = fts.fts_rowid LIMIT %d) c",
			idx.fts, idx.fts, pattern+1, idx.from, w.sql(), idx.col("rowid"), most+1), append(w.args, match)...).Scan(&n); err != nil {
			return searched{}, fmt.Errorf("search %s: %w", idx.fts, err)
		}
		if n <= most {
			w.add(fmt.Sprintf("%s IN (SELECT rowid FROM %s WHERE %s MATCH ?)", idx.col("rowid"), idx.fts, idx.fts), match)
			// The rows the index gives drive the read, then are sorted:
			// left to itself SQLite reads the environment's rows in the
			// list's order through env_id's indexes and looks each up in
			// the index's rowids. A "+" keeps it from reading through an
			// index.
			for i, p := range w.parts {
				if strings.HasPrefix(p, envCond) {
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
	var names []string
	var create []string
	for _, idx := range searchIndexes {
		names = append(names, "'"+idx.pgIdx+"'")
		create = append(create, fmt.Sprintf("CREATE INDEX IF NOT EXISTS %s ON %s USING gin (%s gin_trgm_ops);", idx.pgIdx, idx.table, idx.pgExpr(false)))
	}
	var n int
	if err := db.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM pg_indexes WHERE schemaname = current_schema() AND indexname IN (`+strings.Join(names, ", ")+`)`).Scan(&n); err != nil {
		return fmt.Errorf("look for the search indexes: %w", err)
	}
	db.searchIndexed = n == len(searchIndexes)
	if !db.searchIndexed {
		slog.Warn("PostgreSQL has no trigram indexes for ?search= on users, tenants and resource instances (the pg_trgm extension could not be created): a search reads every row of its environment. As a superuser: CREATE EXTENSION pg_trgm; then, as the database's owner: "+
			strings.Join(create, " ")+" and restart the nodes", "indexes_found", n)
	}
	return nil
}

// searchCountIndex is the index through which SQLite counts a list of
// table whose conditions are the environment and a search read without
// the trigram index (a term of one or two characters): the rows in
// created_at order, which is about the table's own (rowid) order, so that
// checking each row reads the table in order. Left to choose, SQLite
// counted through any index starting with env_id, the email index among
// them, whose order is not the table's: every row a random look-up (7.5 s
// for a rare term at 1M users, about 5x the read in order). "" where the
// count is not such a count.
func (s *Store) searchCountIndex(table string, w *where, term string) string {
	if s.db.Engine != SQLite || term == "" || len(w.parts) != 2 {
		return ""
	}
	return table + "_list_created"
}
