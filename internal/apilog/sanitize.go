package apilog

import (
	"strings"
	"unicode/utf8"
)

// CleanText returns s as text every log database accepts: invalid UTF-8
// sequences become U+FFFD and NUL bytes are removed (PostgreSQL refuses
// both in text columns, and one refused row used to cost its whole batch).
// Text that is already clean is returned as is, without copying.
func CleanText(s string) string {
	if strings.IndexByte(s, 0) < 0 && utf8.ValidString(s) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
}

// Sanitize makes every text of c clean (see CleanText): the path, the
// headers (names and values), the bodies and the rest. A call carries what
// a client sent, and a client may send any bytes.
func Sanitize(c *Call) {
	for _, s := range []*string{&c.ID, &c.RequestID, &c.OrganizationID, &c.ProjectID, &c.EnvironmentID, &c.ActorType, &c.ActorID,
		&c.ActorName, &c.Method, &c.Route, &c.Path, &c.ErrorCode, &c.ClientIP, &c.UserAgent, &c.RequestBody, &c.ResponseBody} {
		*s = CleanText(*s)
	}
	var dirty []string
	for k, v := range c.RequestHeaders {
		if ck := CleanText(k); ck != k {
			dirty = append(dirty, k)
		} else if cv := CleanText(v); cv != v {
			c.RequestHeaders[k] = cv
		}
	}
	for _, k := range dirty { // renamed headers, merged with a clean namesake
		v := CleanText(c.RequestHeaders[k])
		delete(c.RequestHeaders, k)
		ck := CleanText(k)
		if prev, ok := c.RequestHeaders[ck]; ok {
			v = prev + ", " + v
		}
		c.RequestHeaders[ck] = v
	}
}
