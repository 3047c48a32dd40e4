package jobs

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/facts"
)

// Import formats.
const (
	FormatJSONL = "jsonl"
	FormatCSV   = "csv"
)

// maxParseErrors is how many bad rows a refused upload lists.
const maxParseErrors = 100

// maxErrorMessage bounds the message of one bad row (it may quote the row).
const maxErrorMessage = 300

// csvColumns are the columns a CSV import of each row type may have.
var csvColumns = map[string][]string{
	facts.KindUser:           {"key", "email", "first_name", "last_name", "attributes"},
	facts.KindTenant:         {"key", "name", "description", "attributes"},
	facts.KindRoleAssignment: {"user", "role", "tenant", "resource_instance"},
	facts.KindInstance:       {"resource", "key", "tenant", "attributes"},
	facts.KindTuple:          {"subject", "relation", "object"},
}

// NormalizeRowType accepts a row type in the singular or plural.
func NormalizeRowType(t string) string {
	switch t {
	case "users":
		return facts.KindUser
	case "tenants":
		return facts.KindTenant
	case "role_assignments", "role-assignments":
		return facts.KindRoleAssignment
	case "resources":
		return facts.KindResource
	case "roles":
		return facts.KindRole
	case "relations":
		return facts.KindRelation
	case "resource_roles", "resource-roles":
		return facts.KindResourceRole
	case "resource_instances", "resource-instances":
		return facts.KindInstance
	case "relationship_tuples", "relationship-tuples":
		return facts.KindTuple
	case "condition_sets", "condition-sets":
		return facts.KindConditionSet
	case "set_rules", "set-rules":
		return facts.KindSetRule
	}
	return t
}

// lineRow is a row and its line, as a task's input holds it.
type lineRow struct {
	Line int64     `json:"line"`
	Row  facts.Row `json:"row"`
}

// spooledBatch is one batch in the spool file: one line of JSON.
type spooledBatch struct {
	Count int64 `json:"count"`
	First int64 `json:"first"`
	Last  int64 `json:"last"`
	// Assignments: every row is a role assignment.
	Assignments bool            `json:"assignments,omitempty"`
	Rows        json.RawMessage `json:"rows"`
}

type parseSummary struct {
	rows  int64
	kinds map[string]bool
}

// parser turns an upload into batches written to a spool file. It holds
// one row and one batch (at most MaxBatchBytes, encoded) at a time.
type parser struct {
	in       ImportInput
	max      int
	maxBatch int // bytes
	spool    io.Writer
	sum      parseSummary
	errs     []facts.RowError
	nerrs    int

	// The batch being built: its rows as JSON, comma-separated.
	batch       bytes.Buffer
	count       int
	first, last int64
	others      bool         // the batch has a row that is not a role assignment
	row         bytes.Buffer // one encoded row
	enc         *json.Encoder
}

// rowError is a bad row's problem, with the field it is in ("" : the row).
type rowError struct {
	field, msg string
}

func (e *rowError) Error() string { return e.msg }

func (p *parser) add(line int64, r facts.Row) error {
	if r.Type == "" {
		r.Type = p.in.RowType
	}
	r.Type = NormalizeRowType(r.Type)
	r.Line = line
	if err := r.Validate(); err != nil {
		p.bad(line, err)
		return nil
	}
	if r.Type == facts.KindUser && r.Email != nil {
		if err := facts.ValidEmail(*r.Email); err != nil {
			p.bad(line, err)
			return nil
		}
	}
	if p.sum.rows >= int64(p.max) {
		return gatehouse.FieldError("body", "too_many_rows", "line %d: an import has at most %d rows (the limit of a file); split the file", line, p.max)
	}
	p.sum.rows++
	p.sum.kinds[r.Type] = true
	if p.nerrs > 0 {
		return nil // refused anyway: only look for more errors
	}
	p.row.Reset()
	if err := p.enc.Encode(lineRow{Line: line, Row: r}); err != nil {
		return fmt.Errorf("import: encode row: %w", err)
	}
	enc := bytes.TrimSuffix(p.row.Bytes(), []byte("\n"))
	if p.count > 0 && p.batch.Len()+1+len(enc) > p.maxBatch {
		if err := p.flush(); err != nil {
			return err
		}
	}
	if p.count > 0 {
		p.batch.WriteByte(',')
	} else {
		p.first = line
	}
	p.batch.Write(enc)
	p.count++
	p.last = line
	p.others = p.others || r.Type != facts.KindRoleAssignment
	if p.count == p.in.BatchSize {
		return p.flush()
	}
	return nil
}

// bad notes a row that cannot be imported.
func (p *parser) bad(line int64, err error) {
	p.nerrs++
	if len(p.errs) < maxParseErrors {
		re := facts.RowError{Line: line, Message: err.Error()}
		var ge *gatehouse.Error
		var pe *rowError
		switch {
		case errors.As(err, &pe):
			re.Message, re.Field = pe.msg, pe.field
		case errors.As(err, &ge):
			re.Message = ge.Message
			if f, ok := ge.Details["field"].(string); ok {
				re.Field = f
			}
		}
		re.Message = cut(re.Message, maxErrorMessage)
		p.errs = append(p.errs, re)
	}
}

// cut shortens s to at most n bytes, on a character boundary.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// flush writes the batch to the spool.
func (p *parser) flush() error {
	if p.count == 0 {
		return nil
	}
	head, err := json.Marshal(spooledBatch{Count: int64(p.count), First: p.first, Last: p.last, Assignments: !p.others, Rows: json.RawMessage("[]")})
	if err != nil {
		return fmt.Errorf("import: encode batch: %w", err)
	}
	// {…,"rows":[]} → {…,"rows":[<the batch>]}
	head = bytes.TrimSuffix(head, []byte("]}"))
	for _, part := range [][]byte{head, p.batch.Bytes(), []byte("]}\n")} {
		if _, err := p.spool.Write(part); err != nil {
			return fmt.Errorf("import: spool: %w", err)
		}
	}
	p.batch.Reset()
	p.count, p.others = 0, false
	return nil
}

// parse reads the upload, checks every row and writes the batches to
// spool. Bad rows refuse the whole upload with their line numbers.
func (s *Service) parse(in ImportInput, spool io.Writer) (parseSummary, error) {
	in.RowType = NormalizeRowType(in.RowType)
	if in.RowType != "" && !slices.Contains(facts.Kinds, in.RowType) {
		return parseSummary{}, gatehouse.FieldError("type", "invalid_value", "type must be users, tenants or role_assignments (resources and roles in JSON Lines)")
	}
	p := &parser{in: in, max: s.Opt.MaxImportRows, maxBatch: MaxBatchBytes, spool: spool, sum: parseSummary{kinds: map[string]bool{}}}
	if s.Opt.maxBatchBytes > 0 {
		p.maxBatch = s.Opt.maxBatchBytes
	}
	p.enc = json.NewEncoder(&p.row)
	p.enc.SetEscapeHTML(false)
	body := &limitReader{r: in.Body, left: s.Opt.MaxImportBytes}
	var err error
	switch in.Format {
	case FormatJSONL:
		err = p.jsonl(body)
	case FormatCSV:
		err = p.csv(body)
	default:
		return parseSummary{}, gatehouse.Errorf(gatehouse.CodeUnsupportedMediaType, "send JSON Lines (Content-Type: application/x-ndjson) or CSV (Content-Type: text/csv)")
	}
	if body.over {
		return parseSummary{}, &gatehouse.Error{Code: gatehouse.CodePayloadTooLarge, Message: fmt.Sprintf("an import file is at most %d bytes; split it", s.Opt.MaxImportBytes)}
	}
	if err != nil {
		return parseSummary{}, err
	}
	if p.nerrs > 0 {
		return parseSummary{}, &gatehouse.Error{Code: gatehouse.CodeInvalidRequest,
			Message: fmt.Sprintf("%d row(s) cannot be imported; nothing was imported (first at line %d: %s)", p.nerrs, p.errs[0].Line, p.errs[0].Message),
			Details: map[string]any{"field": "body", "reason": "invalid_rows", "error_count": p.nerrs, "errors": p.errs}}
	}
	if p.sum.rows == 0 {
		return parseSummary{}, gatehouse.FieldError("body", "required_field_missing", "the file has no rows")
	}
	return p.sum, p.flush()
}

// jsonl reads JSON Lines: one row per line, at most MaxRowBytes each. A
// longer line is read past, never held.
func (p *parser) jsonl(r io.Reader) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var line int64
	var long []byte // a line longer than br's buffer, gathered
	for {
		text, err := br.ReadSlice('\n')
		over := false
		if err == bufio.ErrBufferFull {
			long = append(long[:0], text...)
			for err == bufio.ErrBufferFull && len(long) <= MaxRowBytes+2 {
				text, err = br.ReadSlice('\n')
				long = append(long, text...)
			}
			over = err == bufio.ErrBufferFull
			for err == bufio.ErrBufferFull { // over the limit: read past the rest
				_, err = br.ReadSlice('\n')
			}
			text = long
		}
		switch {
		case over:
			line++
			p.bad(line, tooLongLine)
		case len(text) > 0:
			line++
			if rerr := p.jsonRow(line, text); rerr != nil {
				return rerr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return readErr(err)
		}
	}
}

var tooLongLine = fmt.Errorf("a line is longer than %d bytes (the limit of a row)", MaxRowBytes)

// jsonRow checks and adds one line of JSON Lines (blank lines are skipped).
func (p *parser) jsonRow(line int64, text []byte) error {
	text = bytes.TrimSuffix(bytes.TrimSuffix(text, []byte("\n")), []byte("\r"))
	if len(text) > MaxRowBytes {
		p.bad(line, tooLongLine)
		return nil
	}
	t := bytes.TrimSpace(text)
	if len(t) == 0 {
		return nil
	}
	if err := textProblem(t, true); err != "" {
		p.bad(line, errors.New(err))
		return nil
	}
	var row facts.Row
	dec := json.NewDecoder(bytes.NewReader(t))
	dec.DisallowUnknownFields()
	if derr := dec.Decode(&row); derr != nil {
		p.bad(line, fmt.Errorf("not a JSON object of a row: %s", jsonProblem(derr)))
		return nil
	}
	if dec.More() {
		p.bad(line, errors.New("more than one JSON value on the line"))
		return nil
	}
	return p.add(line, row)
}

// textProblem says what makes text unfit to import ("" : nothing): it
// must be UTF-8 without NUL characters (which PostgreSQL cannot store in
// text); in JSON (isJSON), a NUL written \u0000 in a string counts too.
func textProblem(b []byte, isJSON bool) string {
	if !utf8.Valid(b) {
		return "not valid UTF-8"
	}
	if bytes.IndexByte(b, 0) >= 0 || (isJSON && jsonHasEscapedNUL(b)) {
		return "a NUL character (\\u0000) is not allowed"
	}
	return ""
}

// jsonHasEscapedNUL reports whether JSON text has \u0000 in a string.
func jsonHasEscapedNUL(b []byte) bool {
	if !bytes.Contains(b, []byte(`\u0000`)) {
		return false
	}
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' || i+1 >= len(b) {
			continue
		}
		if b[i+1] == 'u' && i+6 <= len(b) && string(b[i+2:i+6]) == "0000" {
			return true
		}
		i++ // the escaped character (\\ above all) is not an escape
	}
	return false
}

func jsonProblem(err error) string {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "json: ")
	return msg
}

// csv reads a CSV file: a header row naming the columns, then one row per
// record, each at most MaxRowBytes, MaxColumns cells and MaxCellBytes a
// cell. A record over a limit is read past, never held.
func (p *parser) csv(r io.Reader) error {
	cols, ok := csvColumns[p.in.RowType]
	if !ok {
		return gatehouse.FieldError("type", "required_field_missing", "a CSV import needs ?type=users, tenants, role_assignments, resource_instances or relationship_tuples")
	}
	cr := newCSVReader(r, MaxRowBytes, MaxCellBytes, MaxColumns)
	hline, header, err := cr.Read()
	if err == io.EOF {
		return gatehouse.FieldError("body", "required_field_missing", "the file has no header row")
	}
	if re, ok := isCSVRecordError(err); ok {
		return gatehouse.FieldError("body", "invalid_format", "%s", re.Error())
	}
	if err != nil {
		return readErr(err)
	}
	index := make([]string, len(header))
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		if !slices.Contains(cols, h) {
			return gatehouse.FieldError("body", "invalid_format", "line %d: unknown column %q; a %s file has the columns %s", hline, cut(h, 64), p.in.RowType, strings.Join(cols, ", "))
		}
		if slices.Contains(index[:i], h) {
			return gatehouse.FieldError("body", "invalid_format", "line %d: column %q appears twice", hline, h)
		}
		index[i] = h
	}
	for {
		line, rec, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		if re, ok := isCSVRecordError(err); ok {
			field := ""
			if re.Column > 0 && re.Column <= len(index) {
				field = index[re.Column-1]
			}
			msg := re.Msg
			if field != "" {
				msg = fmt.Sprintf("column %s: %s", field, msg)
			}
			p.bad(re.Line, &rowError{field: field, msg: msg})
			continue
		}
		if err != nil {
			return readErr(err)
		}
		if len(rec) != len(index) {
			p.bad(line, fmt.Errorf("%d fields, the header has %d", len(rec), len(index)))
			continue
		}
		if err := p.csvRow(line, index, rec); err != nil {
			return err
		}
	}
}

// csvRow checks and adds one CSV record.
func (p *parser) csvRow(line int64, index, rec []string) error {
	row := facts.Row{Type: p.in.RowType}
	for i, v := range rec {
		if v == "" {
			continue // an empty cell leaves the field as it is
		}
		if msg := textProblem([]byte(v), index[i] == "attributes"); msg != "" {
			p.bad(line, &rowError{field: index[i], msg: fmt.Sprintf("column %s: %s", index[i], msg)})
			return nil
		}
		v := strings.Clone(v)
		switch index[i] {
		case "key":
			row.Key = v
		case "email":
			row.Email = &v
		case "first_name":
			row.FirstName = &v
		case "last_name":
			row.LastName = &v
		case "name":
			row.Name = &v
		case "description":
			row.Description = &v
		case "attributes":
			row.Attributes = json.RawMessage(v)
			if !json.Valid(row.Attributes) {
				row.Attributes = json.RawMessage(`"not json"`) // Validate reports it
			}
		case "user":
			row.User = v
		case "role":
			row.Role = v
		case "tenant":
			row.Tenant = v
		case "resource_instance":
			row.ResourceInstance = v
		case "resource":
			row.Resource = v
		case "subject":
			row.Subject = v
		case "relation":
			row.Relation = v
		case "object":
			row.Object = v
		}
	}
	return p.add(line, row)
}

func readErr(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return &gatehouse.Error{Code: gatehouse.CodePayloadTooLarge, Message: "the file is too large"}
	}
	return fmt.Errorf("import: read the upload: %w", err)
}

// limitReader ends a read at left bytes and remembers it was over.
type limitReader struct {
	r    io.Reader
	left int64
	over bool
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		var one [1]byte
		if n, _ := l.r.Read(one[:]); n > 0 {
			l.over = true
		}
		return 0, io.EOF
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}
