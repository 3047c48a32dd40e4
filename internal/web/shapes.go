package web

import "net/http"

// Shape is an API's claim on the requests whose errors it answers in a
// wire shape of its own (Permit's body, say), and its writer of that
// shape.
type Shape struct {
	// Owns reports whether a request path belongs to the API.
	Owns func(path string) bool
	// Write answers an error in the API's shape.
	Write ErrorWriter
}

// Errors is the one ErrorWriter of a server hosting several APIs: every
// error (of the shared middleware and of the operations alike) is answered
// in the shape of the API whose claim owns the request's path, in
// fallback's shape (the envelope) otherwise.
func Errors(fallback ErrorWriter, shapes ...Shape) ErrorWriter {
	return func(w http.ResponseWriter, r *http.Request, err error) {
		for _, s := range shapes {
			if s.Owns(r.URL.Path) {
				s.Write(w, r, err)
				return
			}
		}
		fallback(w, r, err)
	}
}
