package jobs

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

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

// maxLine bounds one JSON Lines row.
const maxLine = 1 << 20

// csvColumns are the columns a CSV import of each row type may have.
var csvColumns = map[string][]string{
	facts.KindUser:           {"key", "email", "first_name", "last_name", "attributes"},
	facts.KindTenant:         {"key", "name", "description", "attributes"},
	facts.KindRoleAssignment: {"user", "role", "tenant"},
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
	}
	return t
}

// lineRow is a row and its line, as a task's input holds it.
type lineRow struct {
	Line int64     `json:"line"`
	Row  facts.Row `json:"row"`
}

// spooledBatch is one batch in the spool file.
type spooledBatch struct {
	Count int64           `json:"count"`
	First int64           `json:"first"`
	Last  int64           `json:"last"`
	Rows  json.RawMessage `json:"rows"`
}

type parseSummary struct {
	rows  int64
	kinds map[string]bool
}

// parser turns an upload into batches written to a spool file.
type parser struct {
	in      ImportInput
	max     int
	spool   io.Writer
	batch   []lineRow
	sum     parseSummary
	errs    []facts.RowError
	nerrs   int
	encoded bytes.Buffer
}

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
	if p.sum.rows >= int64(p.max) {
		return gatehouse.Errorf(gatehouse.CodeInvalidRequest, "an import has at most %d rows; split the file", p.max)
	}
	p.sum.rows++
	p.sum.kinds[r.Type] = true
	if p.nerrs > 0 {
		return nil // refused anyway: only look for more errors
	}
	p.batch = append(p.batch, lineRow{Line: line, Row: r})
	if len(p.batch) == p.in.BatchSize {
		return p.flush()
	}
	return nil
}

func (p *parser) bad(line int64, err error) {
	p.nerrs++
	if len(p.errs) < maxParseErrors {
		re := facts.RowError{Line: line, Message: err.Error()}
		var ge *gatehouse.Error
		if errors.As(err, &ge) {
			re.Message = ge.Message
			if f, ok := ge.Details["field"].(string); ok {
				re.Field = f
			}
		}
		p.errs = append(p.errs, re)
	}
}

func (p *parser) flush() error {
	if len(p.batch) == 0 {
		return nil
	}
	rows, err := json.Marshal(p.batch)
	if err != nil {
		return fmt.Errorf("import: encode batch: %w", err)
	}
	p.encoded.Reset()
	enc := json.NewEncoder(&p.encoded)
	if err := enc.Encode(spooledBatch{Count: int64(len(p.batch)), First: p.batch[0].Line, Last: p.batch[len(p.batch)-1].Line, Rows: rows}); err != nil {
		return fmt.Errorf("import: encode batch: %w", err)
	}
	if _, err := p.spool.Write(p.encoded.Bytes()); err != nil {
		return fmt.Errorf("import: spool: %w", err)
	}
	p.batch = p.batch[:0]
	return nil
}

// parse reads the upload, checks every row and writes the batches to
// spool. Bad rows refuse the whole upload with their line numbers.
func (s *Service) parse(in ImportInput, spool io.Writer) (parseSummary, error) {
	in.RowType = NormalizeRowType(in.RowType)
	if in.RowType != "" && !slices.Contains(facts.Kinds, in.RowType) {
		return parseSummary{}, gatehouse.FieldError("type", "invalid_value", "type must be users, tenants or role_assignments (resources and roles in JSON Lines)")
	}
	p := &parser{in: in, max: s.Opt.MaxImportRows, spool: spool, sum: parseSummary{kinds: map[string]bool{}}}
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

func (p *parser) jsonl(r io.Reader) error {
	br := bufio.NewReaderSize(r, 1<<16)
	var line int64
	for {
		text, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// A long row: gather it, up to maxLine.
			long := append([]byte{}, text...)
			for err == bufio.ErrBufferFull && len(long) <= maxLine {
				text, err = br.ReadSlice('\n')
				long = append(long, text...)
			}
			if len(long) > maxLine {
				line++
				p.bad(line, fmt.Errorf("a row is longer than %d bytes", maxLine))
				for err == bufio.ErrBufferFull {
					_, err = br.ReadSlice('\n')
				}
				if err == io.EOF {
					return nil
				}
				if err != nil {
					return readErr(err)
				}
				continue
			}
			text = long
		}
		if len(text) > 0 {
			line++
			if t := bytes.TrimSpace(text); len(t) > 0 {
				var row facts.Row
				dec := json.NewDecoder(bytes.NewReader(t))
				dec.DisallowUnknownFields()
				if derr := dec.Decode(&row); derr != nil {
					p.bad(line, fmt.Errorf("not a JSON object of a row: %s", jsonProblem(derr)))
				} else if dec.More() {
					p.bad(line, errors.New("more than one JSON value on the line"))
				} else if aerr := p.add(line, row); aerr != nil {
					return aerr
				}
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

func jsonProblem(err error) string {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "json: ")
	return msg
}

func (p *parser) csv(r io.Reader) error {
	cols, ok := csvColumns[p.in.RowType]
	if !ok {
		return gatehouse.FieldError("type", "required_field_missing", "a CSV import needs ?type=users, tenants or role_assignments")
	}
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err == io.EOF {
		return gatehouse.FieldError("body", "required_field_missing", "the file has no header row")
	}
	if err != nil {
		return csvErr(err)
	}
	index := make([]string, len(header))
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		if !slices.Contains(cols, h) {
			return gatehouse.FieldError("body", "invalid_format", "line 1: unknown column %q; a %s file has the columns %s", h, p.in.RowType, strings.Join(cols, ", "))
		}
		if slices.Contains(index[:i], h) {
			return gatehouse.FieldError("body", "invalid_format", "line 1: column %q appears twice", h)
		}
		index[i] = h
	}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		var line int64
		if pe, ok := err.(*csv.ParseError); ok {
			p.bad(int64(pe.Line), errors.New(pe.Err.Error()))
			continue
		}
		if err != nil {
			return readErr(err)
		}
		l, _ := cr.FieldPos(0)
		line = int64(l)
		if len(rec) != len(index) {
			p.bad(line, fmt.Errorf("%d fields, the header has %d", len(rec), len(index)))
			continue
		}
		row := facts.Row{Type: p.in.RowType}
		for i, v := range rec {
			if v == "" {
				continue // an empty cell leaves the field as it is
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
			}
		}
		if err := p.add(line, row); err != nil {
			return err
		}
	}
}

func csvErr(err error) error {
	if pe, ok := err.(*csv.ParseError); ok {
		return gatehouse.FieldError("body", "invalid_format", "line %d: %v", pe.Line, pe.Err)
	}
	return readErr(err)
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
