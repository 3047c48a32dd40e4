package client

import (
	"context"
	"io"
	"mime"
	"net/http"
)

// Download is a succeeded export's JSON Lines, as the server names it.
type Download struct {
	// Filename is the name the server gives the file (Content-Disposition).
	Filename string
	// Body streams the file; close it.
	Body io.ReadCloser
}

// Download opens a succeeded export's JSON Lines with its file name; an
// export that has not succeeded is an *Error.
func (j *Jobs) Download(ctx context.Context, id string) (*Download, error) {
	res, err := j.c.send(ctx, request{method: http.MethodGet, path: "/v1/jobs/" + seg(id) + "/output"})
	if err != nil {
		return nil, err
	}
	d := &Download{Body: res.Body}
	if _, params, err := mime.ParseMediaType(res.Header.Get("Content-Disposition")); err == nil {
		d.Filename = params["filename"]
	}
	return d, nil
}
