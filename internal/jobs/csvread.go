package jobs

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// csvReader reads CSV records as encoding/csv does (comma-separated;
// "quoted" fields with "" for a quote, which may span lines; LF or CRLF
// line ends, CRLF inside a quoted field read as LF; blank lines skipped;
// a bare " in an unquoted field, or text after a closing quote, is an
// error that skips the rest of its line), but with bounded memory: it
// never holds more than maxRow bytes of a record, maxCell of a cell or
// maxCols cells. A record over a limit is read to its end without being
// kept, and reported with the line it starts on.
type csvReader struct {
	br                       *bufio.Reader
	maxRow, maxCell, maxCols int

	line   int64 // the line the reader is on (1-based)
	buf    []byte
	ends   []int // the end of each cell in buf
	fields []string
	eof    bool

	rec csvRecordState
}

// csvRecordState is what the reader knows of the record it is reading.
type csvRecordState struct {
	start    int64 // the line the record starts on
	size     int   // bytes of the record, as read (its line end not counted)
	tooLong  bool  // the record is over maxRow
	cellLong int   // the first cell over maxCell (1-based), 0: none
	tooMany  bool  // over maxCols cells
	cellLen  int
	quoted   bool // in a quoted cell
	quote    bool // just read a quote inside a quoted cell
	atStart  bool // at the start of a cell
	empty    bool // nothing read yet on the record's first line
	prevNL   bool // the last byte read was a line end
}

func newCSVReader(r io.Reader, maxRow, maxCell, maxCols int) *csvReader {
	return &csvReader{br: bufio.NewReaderSize(r, 64<<10), maxRow: maxRow, maxCell: maxCell, maxCols: maxCols, line: 1}
}

// csvRecordError is a record that cannot be read (it is skipped; the
// reader goes on with the next one).
type csvRecordError struct {
	Line   int64
	Column int // 1-based; 0: the whole record
	Msg    string
}

func (e *csvRecordError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

// Errors of a record.
var (
	errCSVBareQuote = "bare \" in non-quoted-field"
	errCSVQuote     = "extraneous or missing \" in quoted-field"
)

// plain are the bytes that never change the state of an unquoted cell
// (plainQuoted: of a quoted one); runs of them are taken at once.
var plain, plainQuoted [256]bool

func init() {
	for c := range 256 {
		plainQuoted[c] = c != '"' && c != '\n' && c != '\r'
		plain[c] = plainQuoted[c] && c != ','
	}
}

// next returns the next byte, CRLF read as LF; io.EOF at the end of the
// input (a CR that ends the input is dropped, as encoding/csv does).
func (r *csvReader) next() (byte, error) {
	c, err := r.br.ReadByte()
	if err != nil {
		return 0, err
	}
	if c == '\r' {
		n, err := r.br.Peek(1)
		switch {
		case err == nil && n[0] == '\n':
			_, _ = r.br.ReadByte()
			c = '\n'
		case err == io.EOF:
			return 0, io.EOF
		}
	}
	return c, nil
}

// skipLine reads up to the end of the current line.
func (r *csvReader) skipLine() error {
	for {
		c, err := r.next()
		if err != nil {
			return err
		}
		if c == '\n' {
			r.line++
			return nil
		}
	}
}

// put adds bytes to the current cell, within the limits.
func (r *csvReader) put(b ...byte) {
	s := &r.rec
	s.cellLen += len(b)
	if s.cellLen > r.maxCell && s.cellLong == 0 && !s.tooMany {
		s.cellLong = len(r.ends) + 1
	}
	if s.tooLong || s.tooMany || s.cellLong != 0 {
		return
	}
	r.buf = append(r.buf, b...)
}

// grow counts n more bytes of the record.
func (r *csvReader) grow(n int) {
	s := &r.rec
	s.size += n
	if s.size > r.maxRow && !s.tooLong {
		s.tooLong = true
		r.buf, r.ends = r.buf[:0], r.ends[:0]
	}
}

func (r *csvReader) endCell() {
	s := &r.rec
	if len(r.ends) >= r.maxCols {
		s.tooMany = true
	}
	if !s.tooMany && !s.tooLong {
		r.ends = append(r.ends, len(r.buf))
	}
	s.cellLen, s.atStart = 0, true
}

// fail reports a bad record at the current line (after reading past the
// rest of the line when skip).
func (r *csvReader) fail(msg string, skip bool) (int64, []string, error) {
	line, col := r.line, len(r.ends)+1
	if skip {
		if err := r.skipLine(); err == io.EOF {
			r.eof = true
		} else if err != nil {
			return 0, nil, err
		}
	}
	return line, nil, &csvRecordError{Line: line, Column: col, Msg: msg}
}

// run takes, at once, the plain bytes that come next in the buffer (none
// when the next byte may change the state).
func (r *csvReader) run() error {
	s := &r.rec
	if s.quote {
		return nil
	}
	table := &plain
	if s.quoted {
		table = &plainQuoted
	}
	if r.br.Buffered() == 0 {
		if _, err := r.br.Peek(1); err != nil {
			return nil // next() sees it
		}
	}
	buffered, _ := r.br.Peek(r.br.Buffered())
	n := 0
	for n < len(buffered) && table[buffered[n]] {
		n++
	}
	if n == 0 {
		return nil
	}
	r.grow(n)
	r.put(buffered[:n]...)
	s.prevNL, s.empty = false, false
	if !s.quoted {
		s.atStart = false
	}
	_, err := r.br.Discard(n)
	return err
}

// Read returns the next record, the line it starts on and the cells
// (valid until the next call). A *csvRecordError is a bad record; io.EOF
// ends the input; any other error is a failed read.
func (r *csvReader) Read() (int64, []string, error) {
	if r.eof {
		return 0, nil, io.EOF
	}
	r.buf, r.ends = r.buf[:0], r.ends[:0]
	r.rec = csvRecordState{start: r.line, atStart: true, empty: true}
	s := &r.rec
	for {
		if err := r.run(); err != nil {
			return 0, nil, err
		}
		c, err := r.next()
		if err == io.EOF {
			r.eof = true
			if s.empty {
				return 0, nil, io.EOF
			}
			if s.quoted && !s.quote {
				if s.prevNL {
					r.line-- // the error is on the last line that has text
				}
				return r.fail(errCSVQuote, false)
			}
			c, err = '\n', nil // the last line has no line end
		}
		if err != nil {
			return 0, nil, err
		}
		s.prevNL = c == '\n'
		if s.empty && c == '\n' {
			r.line++ // a blank line
			s.start = r.line
			continue
		}
		s.empty = false
		if c != '\n' || (s.quoted && !s.quote) { // the line end of a record is not part of it
			r.grow(1)
		}
		switch {
		case s.quote:
			// After a quote in a quoted cell: "" is a quote, then the
			// cell ends at a comma or the line's end.
			s.quote = false
			switch c {
			case '"':
				r.put('"')
				continue
			case ',':
				s.quoted = false
				r.endCell()
				continue
			case '\n':
				s.quoted = false
			default:
				return r.fail(errCSVQuote, true)
			}
		case s.quoted:
			switch c {
			case '"':
				s.quote = true
			case '\n':
				r.line++
				r.put('\n')
			default:
				r.put(c)
			}
			continue
		case s.atStart && c == '"':
			s.quoted, s.atStart = true, false
			continue
		case c == '"':
			return r.fail(errCSVBareQuote, true)
		case c == ',':
			r.endCell()
			continue
		case c != '\n':
			s.atStart = false
			r.put(c)
			continue
		}
		// The record's end (c is '\n').
		r.endCell()
		if !r.eof {
			r.line++
		}
		switch { // the most precise first
		case s.tooMany:
			return s.start, nil, &csvRecordError{Line: s.start, Msg: fmt.Sprintf("a row has more than %d cells (the limit of a row)", r.maxCols)}
		case s.cellLong != 0:
			return s.start, nil, &csvRecordError{Line: s.start, Column: s.cellLong, Msg: fmt.Sprintf("a cell is longer than %d bytes (the limit of a cell)", r.maxCell)}
		case s.tooLong:
			return s.start, nil, &csvRecordError{Line: s.start, Msg: fmt.Sprintf("a row is longer than %d bytes (the limit of a row)", r.maxRow)}
		}
		r.fields = r.fields[:0]
		from := 0
		for _, to := range r.ends {
			r.fields = append(r.fields, string(r.buf[from:to]))
			from = to
		}
		return s.start, r.fields, nil
	}
}

// isCSVRecordError reports whether err is a bad record (not a failed read).
func isCSVRecordError(err error) (*csvRecordError, bool) {
	var re *csvRecordError
	ok := errors.As(err, &re)
	return re, ok
}
