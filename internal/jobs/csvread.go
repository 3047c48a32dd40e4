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

// next returns the byte after the current one, handling CRLF as LF;
// io.EOF at the end of the input.
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
			return 0, io.EOF // a CR that ends the input is dropped
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

// Read returns the next record, the line it starts on and the cells
// (valid until the next call). A *csvRecordError is a bad record; io.EOF
// ends the input; any other error is a failed read.
func (r *csvReader) Read() (int64, []string, error) {
	if r.eof {
		return 0, nil, io.EOF
	}
	r.buf, r.ends = r.buf[:0], r.ends[:0]
	var (
		start    = r.line
		size     int  // bytes of the record, as read
		tooLong  bool // the record is over maxRow
		cellLong int  // the first cell over maxCell (1-based), 0: none
		tooMany  bool // over maxCols cells
		cellLen  int
		quoted   bool // in a quoted cell
		quote    bool // just read a quote inside a quoted cell
		atStart  = true
		empty    = true // nothing read yet on the record's first line
		prevNL   bool   // the last byte read was a line end
	)
	put := func(c byte) {
		cellLen++
		if cellLen > r.maxCell && cellLong == 0 && !tooMany {
			cellLong = len(r.ends) + 1
		}
		if tooLong || tooMany || cellLong != 0 {
			return
		}
		r.buf = append(r.buf, c)
	}
	endCell := func() {
		if len(r.ends) >= r.maxCols {
			tooMany = true
		}
		if !tooMany && !tooLong {
			r.ends = append(r.ends, len(r.buf))
		}
		cellLen, atStart = 0, true
	}
	fail := func(msg string, col int, skip bool) (int64, []string, error) {
		line := r.line
		if skip {
			if err := r.skipLine(); err == io.EOF {
				r.eof = true
			} else if err != nil {
				return 0, nil, err
			}
		}
		return line, nil, &csvRecordError{Line: line, Column: col, Msg: msg}
	}
	for {
		c, err := r.next()
		if err == io.EOF {
			r.eof = true
			if empty {
				return 0, nil, io.EOF
			}
			if quoted && !quote {
				if prevNL {
					r.line-- // the error is on the last line that has text
				}
				return fail(errCSVQuote, len(r.ends)+1, false)
			}
			c, err = '\n', nil // the last line has no line end
		}
		if err != nil {
			return 0, nil, err
		}
		prevNL = c == '\n'
		if empty && c == '\n' {
			r.line++ // a blank line
			start = r.line
			continue
		}
		empty = false
		if c != '\n' || (quoted && !quote) { // the line end of a record is not part of it
			size++
			if size > r.maxRow && !tooLong {
				tooLong = true
				r.buf, r.ends = r.buf[:0], r.ends[:0]
			}
		}
		switch {
		case quote:
			// After a quote in a quoted cell: "" is a quote, then the
			// cell ends at a comma or the line's end.
			quote = false
			switch c {
			case '"':
				put('"')
				continue
			case ',':
				quoted = false
				endCell()
				continue
			case '\n':
				quoted = false
			default:
				return fail(errCSVQuote, len(r.ends)+1, true)
			}
		case quoted:
			switch c {
			case '"':
				quote = true
			case '\n':
				r.line++
				put('\n')
			default:
				put(c)
			}
			continue
		case atStart && c == '"':
			quoted, atStart = true, false
			continue
		case c == '"':
			return fail(errCSVBareQuote, len(r.ends)+1, true)
		case c == ',':
			endCell()
			continue
		case c != '\n':
			atStart = false
			put(c)
			continue
		}
		// The record's end (c is '\n').
		endCell()
		if !r.eof {
			r.line++
		}
		switch { // the most precise first
		case tooMany:
			return start, nil, &csvRecordError{Line: start, Msg: fmt.Sprintf("a row has more than %d cells (the limit of a row)", r.maxCols)}
		case cellLong != 0:
			return start, nil, &csvRecordError{Line: start, Column: cellLong, Msg: fmt.Sprintf("a cell is longer than %d bytes (the limit of a cell)", r.maxCell)}
		case tooLong:
			return start, nil, &csvRecordError{Line: start, Msg: fmt.Sprintf("a row is longer than %d bytes (the limit of a row)", r.maxRow)}
		}
		r.fields = r.fields[:0]
		from := 0
		for _, to := range r.ends {
			r.fields = append(r.fields, string(r.buf[from:to]))
			from = to
		}
		return start, r.fields, nil
	}
}

// isCSVRecordError reports whether err is a bad record (not a failed read).
func isCSVRecordError(err error) (*csvRecordError, bool) {
	var re *csvRecordError
	ok := errors.As(err, &re)
	return re, ok
}
